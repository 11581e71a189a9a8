/**
 * Resumable sessions (issue 11): heap per suspended session (with and without missed pushes in its ring) and the
 * resume latency (reconnect socket open → `resumed` answer) on the embedded gate.
 * Run: node --import tsx --expose-gc test/bench/resume-micro.ts [sessions=2000] [pushes per session=10]
 */
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import { SessionKind } from '../../src/node/proxy.js';
import { startCutProxy } from '../harness/cut-proxy.js';
import { startEmbedded, until } from '../harness/embedded.js';

const N = Number(process.argv[2] ?? 2000);
const PUSHES = Number(process.argv[3] ?? 10);
const e = await startEmbedded({
  resume: { windowMs: 60_000, bufferMessages: 100, bufferBytes: 64 * 1024, route: -1, secret: 'bench' },
  heartbeatIntervalMs: 0,
});
const proxy = await startCutProxy(e.port);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const heap = (): number => {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
};

const clients: Client[] = [];
const opened = new Map<Client, number>();
const latencies: number[] = [];
for (let i = 0; i < N; i++) {
  const c = new Client({
    url: proxy.url,
    WebSocket: WebSocket as never,
    heartbeat: { intervalMs: 0 },
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  });
  c.on('open', ({ isReconnect }) => {
    if (isReconnect) opened.set(c, performance.now());
  });
  c.on('resumed', () => latencies.push(performance.now() - (opened.get(c) ?? performance.now())));
  await c.connect();
  await c.request(2, enc(String(i + 1)));
  clients.push(c);
}
proxy.upstream = null;
proxy.cutAll();
await until(() => [...e.gate.sessions.all()].filter((s) => s.isSuspended).length === N, 'all suspended', 30_000);
for (let i = 0; i < N; i++) {
  for (let k = 0; k < PUSHES; k++) {
    await e.node.proxy.push({
      kind: SessionKind.USER,
      target: i + 1,
      route: 120,
      body: 'x'.repeat(32),
      gid: e.gate.id,
    });
  }
}
await new Promise((r) => setTimeout(r, 200));
// Heap held by suspended sessions: measured by ending half of them (the clients live in this process too, so
// only a difference between two states of the gate isolates its share).
const half = Math.floor(N / 2);
const withHalf = heap();
for (let i = 0; i < half; i++) await e.node.proxy.disconnect({ kind: SessionKind.USER, target: i + 1, gid: e.gate.id });
await until(() => e.gate.sessions.size === N - half, 'half ended', 10_000);
const perSuspended = (withHalf - heap()) / half;
const t0 = performance.now();
proxy.upstream = e.port;
await until(() => latencies.length === N - half, 'the rest resumed', 60_000);
const all = performance.now() - t0;
latencies.sort((a, b) => a - b);
const pct = (p: number): string =>
  (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(2);
console.log(`suspended sessions                        ${N}`);
console.log(`heap per suspended session, ${PUSHES} pushes kept ${perSuspended.toFixed(0)} B (packets of 43 B)`);
console.log(
  `resume latency (socket open → resumed)    p50 ${pct(0.5)} ms  p99 ${pct(0.99)} ms  (${N - half} resumed in ${all.toFixed(0)} ms)`,
);
for (const c of clients) await c.close();
await proxy[Symbol.asyncDispose]();
await e[Symbol.asyncDispose]();
