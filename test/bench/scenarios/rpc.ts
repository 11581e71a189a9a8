/**
 * Service calls between two nodes (issue 17): this process is the calling node, test/bench/servers/rpc-callee.ts
 * the answering one, over one nats-server. Closed loop, `concurrency` calls in flight; beside it, in the same run
 * and against the same callee process, a plain nats.js request/reply loop (the floor a service call builds on).
 * Runs alternate between the two; medians are reported.
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { connectNatsBus } from '../../../src/bus/nats-bus.js';
import { MemoryLocator } from '../../../src/locate/memory-locator.js';
import { Node } from '../../../src/node/node.js';
import { PacketCodec } from '../../../src/packet/codec.js';
import { MemoryRegistry } from '../../../src/registry/memory-registry.js';
import { startNats } from '../../harness/nats.js';
import { Histogram } from '../lib/histogram.js';
import { spawnReady, tsNode } from '../lib/spawn.js';
import { median } from '../lib/stats.js';

export interface RpcRun {
  calls: number;
  callsPerSec: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

export interface RpcResult {
  system: 'duet service call' | 'plain NATS request';
  concurrency: number;
  bodyBytes: number;
  runs: RpcRun[];
  median: { callsPerSec: number; p50ms: number; p99ms: number };
}

async function loop(
  call: () => Promise<unknown>,
  concurrency: number,
  warmupMs: number,
  measureMs: number,
): Promise<RpcRun> {
  const h = new Histogram();
  let calls = 0;
  let errors = 0;
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const end = measureFrom + measureMs;
  const worker = async (): Promise<void> => {
    for (let now = performance.now(); now < end; now = performance.now()) {
      const s = performance.now();
      try {
        await call();
      } catch {
        errors++;
      }
      const done = performance.now();
      if (s >= measureFrom && done <= end) {
        calls++;
        h.record((done - s) * 1000);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    calls,
    callsPerSec: calls / (measureMs / 1000),
    p50ms: h.quantile(0.5) / 1000,
    p99ms: h.quantile(0.99) / 1000,
    errors,
  };
}

export async function runRpc(o: {
  concurrency: number;
  bodyBytes: number;
  warmupMs: number;
  measureMs: number;
  runs: number;
  log(line: string): void;
}): Promise<RpcResult[]> {
  const nats = await startNats();
  const prefix = `rpc${process.pid}`;
  const [cmd, args] = tsNode(join(import.meta.dirname, '..', 'servers', 'rpc-callee.ts'), [nats.url, prefix]);
  const callee = await spawnReady(cmd, args, /rpc callee ready/);
  const bus = await connectNatsBus({ servers: [nats.url], name: 'bench-rpc-caller' });
  const node = new Node({
    id: 'caller',
    bus,
    locator: new MemoryLocator(),
    registry: new MemoryRegistry(),
    codec: new PacketCodec(),
    prefix,
  });
  await node.start();
  const nc = await connect({ servers: [nats.url], name: 'bench-rpc-plain-caller' });
  const body = new Uint8Array(o.bodyBytes).fill(97);
  const systems = {
    'duet service call': () => node.services.call('bench', 'echo', body, { timeoutMs: 5000 }),
    'plain NATS request': () => nc.request(`${prefix}.plain.echo`, body, { timeout: 5000 }),
  } as const;
  const runs = new Map<keyof typeof systems, RpcRun[]>([
    ['duet service call', []],
    ['plain NATS request', []],
  ]);
  try {
    for (let r = 0; r < o.runs; r++) {
      const order = Object.keys(systems) as (keyof typeof systems)[];
      for (const name of r % 2 ? order.reverse() : order) {
        const run = await loop(systems[name], o.concurrency, o.warmupMs, o.measureMs);
        runs.get(name)?.push(run);
        o.log(
          `rpc ${name} (${o.concurrency} in flight, ${o.bodyBytes} B): ${Math.round(run.callsPerSec)} calls/s, p50 ${run.p50ms.toFixed(2)} ms, p99 ${run.p99ms.toFixed(2)} ms, ${run.errors} errors`,
        );
      }
    }
  } finally {
    await node.stop();
    await bus.drain();
    await nc.drain();
    await callee.stop();
    await nats[Symbol.asyncDispose]();
  }
  return [...runs].map(([system, list]) => ({
    system,
    concurrency: o.concurrency,
    bodyBytes: o.bodyBytes,
    runs: list,
    median: {
      callsPerSec: median(list.map((x) => x.callsPerSec)),
      p50ms: median(list.map((x) => x.p50ms)),
      p99ms: median(list.map((x) => x.p99ms)),
    },
  }));
}
