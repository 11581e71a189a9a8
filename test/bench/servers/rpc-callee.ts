/**
 * The callee of the rpc scenario, a process of its own: a duet node providing `bench.echo` (answers the body), and,
 * on the same process and NATS server, a plain nats.js responder on `{prefix}.plain.echo` for the baseline.
 * argv: <nats url> <subject prefix>.
 */
import { connect } from '@nats-io/transport-node';
import { connectNatsBus } from '../../../src/bus/nats-bus.js';
import { MemoryLocator } from '../../../src/locate/memory-locator.js';
import { Node } from '../../../src/node/node.js';
import { PacketCodec } from '../../../src/packet/codec.js';
import { MemoryRegistry } from '../../../src/registry/memory-registry.js';

const [natsUrl = 'nats://127.0.0.1:4222', prefix = 'rpc'] = process.argv.slice(2);
const bus = await connectNatsBus({ servers: [natsUrl], name: 'bench-rpc-callee' });
const node = new Node({
  id: 'callee',
  bus,
  locator: new MemoryLocator(),
  registry: new MemoryRegistry(),
  codec: new PacketCodec(),
  prefix,
});
node.services.provide('bench', { echo: (call) => call.body.slice() });
await node.start();
const nc = await connect({ servers: [natsUrl], name: 'bench-rpc-plain-responder' });
nc.subscribe(`${prefix}.plain.echo`, {
  callback: (err, msg) => {
    if (!err && msg.reply) nc.publish(msg.reply, msg.data);
  },
});
await nc.flush();
await bus.flush();
console.log('rpc callee ready');
process.on('SIGTERM', () => {
  void (async () => {
    await node.stop();
    await bus.drain();
    await nc.drain();
    process.exit(0);
  })();
});
