import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { packageUrl } from '../package-root.js';
import { type DemoMessages, demoMessages } from './demo-messages.js';

/** proto/demo.proto, parsed once per process (the same way src/bus/envelope.ts loads cluster.proto). */
const protoPath = packageUrl('proto/demo.proto');
export const demoProtoRoot = protobuf.parse(readFileSync(protoPath, 'utf8'), { keepCase: false }).root;
export const Demo: DemoMessages = demoMessages(demoProtoRoot);
