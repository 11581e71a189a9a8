/**
 * Reconnect storm (issue 15): two gates and a node over NATS with the Redis locator. Gate A holds `sessions`
 * logged-in `duet/client` sessions (default reconnect policy, spread over worker processes of at most 5,000
 * clients); gate B serves `steady` sessions echoing every 10 ms. Gate A is restarted (SIGTERM: graceful stop,
 * sessions closed 1001; then a new process on the same port). Reported: how long until every client is logged in
 * again, the restart's own share (stop, start), and what gate B's sessions saw meanwhile (echo p50/p99 before
 * and during, unanswered echoes, gate B and node CPU).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../harness/free-port.js';
import { startNats } from '../../harness/nats.js';
import { startRedis } from '../../harness/redis.js';
import { Histogram } from '../lib/histogram.js';
import { LoadGroup } from '../lib/load.js';
import { cpuDelta, cpuSnapshot } from '../lib/proc-stats.js';
import { sleep } from '../lib/stats.js';
import { BENCH_APP, DUET_COMMON, probeEcho, sets, startDuetProcess } from '../lib/systems.js';
import type { ReconnectReply } from '../reconnect-worker.js';

const WORKER = fileURLToPath(new URL('../reconnect-worker.ts', import.meta.url));
const CLIENTS_PER_WORKER = 5000;

export interface ReconnectResult {
  sessions: number;
  steady: number;
  stopMs: number;
  /** From the SIGTERM until the new gate process listens. */
  restartMs: number;
  /** From the SIGTERM until every client is logged in again (Infinity: not within the deadline). */
  allServedMs: number;
  /** From the new gate listening until every client is logged in again. */
  servedAfterListenMs: number;
  served: number;
  reconnectAttempts: number;
  otherGate: { p50msBefore: number; p99msBefore: number; p50msDuring: number; p99msDuring: number; lost: number };
  /** CPU ms of gate B and of the node during the storm. */
  cpuMs: Record<string, number>;
}

type Count = Extract<ReconnectReply, { type: 'count' }>;

class ClientWorkers {
  readonly #procs: ReturnType<typeof fork>[] = [];

  static async open(url: string, sessions: number): Promise<{ w: ClientWorkers; served: number }> {
    const w = new ClientWorkers();
    const n = Math.ceil(sessions / CLIENTS_PER_WORKER);
    const readies: Promise<ReconnectReply>[] = [];
    for (let i = 0; i < n; i++) {
      const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      w.#procs.push(child);
      const count = Math.floor(sessions / n) + (i < sessions % n ? 1 : 0);
      readies.push(w.#next(child, 'ready', 120_000));
      child.send({ type: 'setup', url, count, uidBase: 1 + i * CLIENTS_PER_WORKER });
    }
    const rs = await Promise.all(readies);
    return { w, served: rs.reduce((a, r) => a + (r.type === 'ready' ? r.served : 0), 0) };
  }

  #next(child: ReturnType<typeof fork>, type: ReconnectReply['type'], ms: number): Promise<ReconnectReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reconnect worker: no '${type}' within ${ms} ms`)), ms);
      const on = (m: ReconnectReply): void => {
        if (m.type !== type) return;
        clearTimeout(timer);
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
    });
  }

  async count(): Promise<Omit<Count, 'type'>> {
    const rs = (await Promise.all(
      this.#procs.map((c) => {
        const p = this.#next(c, 'count', 10_000);
        c.send({ type: 'count' });
        return p;
      }),
    )) as Count[];
    return {
      served: rs.reduce((a, r) => a + r.served, 0),
      lost: rs.reduce((a, r) => a + r.lost, 0),
      reconnected: rs.reduce((a, r) => a + r.reconnected, 0),
      firstLostEpoch: Math.min(...rs.map((r) => r.firstLostEpoch || Number.POSITIVE_INFINITY)),
      lastServedEpoch: Math.max(...rs.map((r) => r.lastServedEpoch)),
      attempts: rs.reduce((a, r) => a + r.attempts, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#procs.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), 8000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.send({ type: 'close' });
          }),
      ),
    );
  }
}

function cut(s: { atEpoch: number[]; ms: number[] }, from: number, to: number): Histogram {
  const h = new Histogram();
  for (let i = 0; i < s.atEpoch.length; i++) {
    const at = s.atEpoch[i] as number;
    if (at >= from && at <= to) h.record((s.ms[i] as number) * 1000);
  }
  return h;
}

export async function runReconnect(o: {
  sessions: number;
  steady: number;
  beforeMs: number;
  deadlineMs: number;
  log(line: string): void;
}): Promise<ReconnectResult> {
  const nats = await startNats({ jetstream: true });
  const redis = await startRedis();
  const prefix = `rs${process.pid}`;
  const common = [
    ...DUET_COMMON.filter((x) => !x.startsWith('network.ws.server.addr')),
    'bus.adapter="nats"',
    `bus.nats.servers=["${nats.url}"]`,
    `bus.nats.prefix="${prefix}"`,
    'locate.adapter="redis"',
    `locate.redis.addrs=["${redis.addr}"]`,
    'registry.adapter="nats"',
    `registry.nats.bucket="${prefix}-registry"`,
    'registry.nats.interval="1s"',
  ];
  const portA = await freePort();
  const gateArgs = (port: number): string[] => [
    'gate',
    ...sets([...common, `network.ws.server.addr="127.0.0.1:${port}"`]),
  ];
  const stops: (() => Promise<void>)[] = [async () => nats[Symbol.asyncDispose](), () => redis[Symbol.asyncDispose]()];
  let workers: ClientWorkers | undefined;
  let steady: LoadGroup | undefined;
  try {
    const node = await startDuetProcess(['node', '--app', BENCH_APP, ...sets(common)], undefined, 'node');
    stops.unshift(() => node.stop());
    let gateA = await startDuetProcess(gateArgs(portA), undefined, 'gate-a');
    stops.unshift(() => gateA.stop());
    const gateB = await startDuetProcess(gateArgs(0), undefined, 'gate-b');
    stops.unshift(() => gateB.stop());
    const urlA = gateA.url as string;
    const urlB = gateB.url as string;
    await probeEcho(urlA, 'duet');
    await probeEcho(urlB, 'duet');
    const opened = await ClientWorkers.open(urlA, o.sessions);
    workers = opened.w;
    if (opened.served < o.sessions) throw new Error(`only ${opened.served} of ${o.sessions} clients logged in`);
    o.log(`  ${o.sessions} duet/client sessions logged in on gate A; ${o.steady} steady sessions on gate B`);
    steady = await LoadGroup.open(
      { url: urlB, protocol: 'duet', mode: 'open', bodyBytes: 32, route: 1, ratePerConn: 100, keepSamples: true },
      o.steady,
      1,
    );
    const window = steady.run(200, o.beforeMs + o.deadlineMs);
    await sleep(200 + o.beforeMs);
    const cpu0 = cpuSnapshot({ gateB: gateB.pid, node: node.pid });
    const t0 = Date.now();
    await gateA.stop();
    const stopMs = Date.now() - t0;
    gateA = await startDuetProcess(gateArgs(portA), undefined, 'gate-a');
    const listening = Date.now();
    let c = await workers.count();
    while (c.served < o.sessions && Date.now() - t0 < o.deadlineMs) {
      await sleep(100);
      c = await workers.count();
    }
    const cpu = cpuDelta(cpu0, cpuSnapshot({ gateB: gateB.pid, node: node.pid }));
    const allServed = c.served >= o.sessions ? c.lastServedEpoch : Number.POSITIVE_INFINITY;
    const r = await window;
    const before = cut(r.samples, t0 - o.beforeMs, t0);
    const during = cut(r.samples, t0, Number.isFinite(allServed) ? allServed : t0 + o.deadlineMs);
    const out: ReconnectResult = {
      sessions: o.sessions,
      steady: o.steady,
      stopMs,
      restartMs: listening - t0,
      allServedMs: allServed - t0,
      servedAfterListenMs: allServed - listening,
      served: c.served,
      reconnectAttempts: c.attempts,
      otherGate: {
        p50msBefore: before.quantile(0.5) / 1000,
        p99msBefore: before.quantile(0.99) / 1000,
        p50msDuring: during.quantile(0.5) / 1000,
        p99msDuring: during.quantile(0.99) / 1000,
        lost: r.lost,
      },
      cpuMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v / 1000])),
    };
    o.log(
      `  restart: stop ${stopMs} ms, listening again after ${out.restartMs} ms; ${c.served}/${o.sessions} served again after ${Math.round(out.allServedMs)} ms (${c.attempts} reconnect attempts)`,
    );
    return out;
  } finally {
    await steady?.close();
    await workers?.close();
    for (const stop of stops) await stop().catch(() => {});
  }
}
