import { after, before } from 'node:test';
import type { Bus } from '../../src/bus/bus.js';
import { connectNatsBus } from '../../src/bus/nats-bus.js';
import { busContract } from '../contract/bus.contract.js';
import { type NatsServer, startNats } from '../harness/nats.js';

let server: NatsServer;
before(async () => {
  server = await startNats();
});
after(async () => {
  await server[Symbol.asyncDispose]();
});

busContract('nats', async () => {
  const opened: Bus[] = [];
  const open = async (): Promise<Bus> => {
    const b = await connectNatsBus({ servers: [server.url], name: 'bus-contract' });
    opened.push(b);
    return b;
  };
  const bus = await open();
  return { bus, other: open, dispose: async () => void (await Promise.all(opened.map((b) => b.drain()))) };
});
