import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay that holds every chunk for `delayMs` in each direction (order kept: timers of one duration fire
 * in the order they were set), like a server one network hop away. It counts the chunks it relayed upstream, so
 * a test can see how many separate writes a client made.
 */
export interface DelayProxy extends AsyncDisposable {
  readonly port: number;
  readonly addr: string;
  /** Chunks relayed client → server so far. */
  readonly upstreamChunks: number;
}

export async function startDelayProxy(upstreamPort: number, delayMs: number): Promise<DelayProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const timers = new Set<NodeJS.Timeout>();
  let upstreamChunks = 0;
  const later = (fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, delayMs);
    timers.add(t);
  };
  const server: Server = createServer((down) => {
    const up = connect(upstreamPort, '127.0.0.1');
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', () => later(end));
    }
    down.on('data', (chunk: Buffer) => {
      upstreamChunks++;
      later(() => up.write(chunk));
    });
    up.on('data', (chunk: Buffer) => later(() => down.write(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    addr: `127.0.0.1:${port}`,
    get upstreamChunks() {
      return upstreamChunks;
    },
    async [Symbol.asyncDispose]() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const [down, up] of pairs) {
        down.destroy();
        up.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
