/**
 * Embedding duet: a gate and a node in your own process, on the in-process bus, locator and registry (the `dev`
 * role's adapters), answered by the client SDK. The README shows this file; test/package/embed-example.test.ts runs
 * it. Swap `role: 'dev'` for a config whose bus is NATS to spread the same app over processes.
 */

import {
  createAdapters,
  createGate,
  createNode,
  createTransport,
  loadConfig,
  type Middleware,
  type NodeApp,
  packetCodec,
  type RequestContext,
} from 'duet';
import { Client } from 'duet/client';

/** Route 1 answers what it was sent; route 2 says hello to a name. Middleware counts every request. */
export function greeterApp(counter: { requests: number }): NodeApp {
  const count: Middleware = (_ctx, next) => {
    counter.requests++;
    return next();
  };
  return {
    name: 'greeter',
    register(node) {
      node.addRoute(1, (ctx: RequestContext) => ctx.response(ctx.body), { middlewares: [count] });
      node.addRoute(
        2,
        (ctx) => ctx.response(new TextEncoder().encode(`hello, ${new TextDecoder().decode(ctx.body)}`)),
        {
          middlewares: [count],
        },
      );
    },
  };
}

export interface Embedded {
  url: string;
  stop(): Promise<void>;
}

/** Starts a gate on 127.0.0.1:`port` and a node running `app`; stop() ends both and the adapters. */
export async function startEmbedded(port: number, app: NodeApp): Promise<Embedded> {
  const { config } = loadConfig({ role: 'dev', argv: ['--set', `network.ws.server.addr=127.0.0.1:${port}`] });
  const adapters = await createAdapters(config);
  const codec = packetCodec(config);
  const node = await createNode(config, adapters, codec, app);
  await node.start();
  const gate = createGate(config, adapters, createTransport(config, codec), codec);
  await gate.start();
  return {
    url: `ws://127.0.0.1:${port}/`,
    async stop() {
      await gate.stop();
      await node.stop();
      await adapters.dispose();
    },
  };
}

/** One round trip through the gate: connect, greet, close. In Node 20 pass the `ws` package's WebSocket. */
export async function greet(
  url: string,
  name: string,
  WebSocket?: ConstructorParameters<typeof Client>[0]['WebSocket'],
) {
  const client = new Client({ url, WebSocket, reconnect: { enabled: false } });
  await client.connect();
  try {
    const reply = await client.request(2, new TextEncoder().encode(name));
    return new TextDecoder().decode(reply.body);
  } finally {
    await client.close();
  }
}
