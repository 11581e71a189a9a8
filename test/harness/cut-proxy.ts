import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay between clients and a gate that a test can cut like a flaky mobile network: cutAll() destroys both
 * sides at once, so neither end gets a WebSocket close frame (the gate sees 1006). The upstream can be switched
 * (reconnect to another gate) or refused (the network stays down).
 */
export interface CutProxy extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  /** Where new connections go; null refuses them (connection reset). */
  upstream: number | null;
  /** Drops every relayed connection without a close handshake. */
  cutAll(): void;
  readonly connections: number;
}

export async function startCutProxy(upstreamPort: number): Promise<CutProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let upstream: number | null = upstreamPort;
  const server: Server = createServer((down) => {
    if (upstream === null) {
      down.resetAndDestroy();
      return;
    }
    const up = connect(upstream, '127.0.0.1');
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', end);
    up.on('error', end);
    down.on('close', end);
    up.on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `ws://127.0.0.1:${port}/`,
    get upstream() {
      return upstream;
    },
    set upstream(p: number | null) {
      upstream = p;
    },
    get connections() {
      return pairs.size;
    },
    cutAll() {
      for (const [down, up] of pairs) {
        down.resetAndDestroy();
        up.resetAndDestroy();
      }
      pairs.clear();
    },
    async [Symbol.asyncDispose]() {
      for (const [down, up] of pairs) {
        down.destroy();
        up.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
