/**
 * Issue 20 case 8: a gate under a crowd of idle sessions. Measures, on one fresh system:
 *   1. a new session's first echo (connect → open, then send → reply) on the idle gate;
 *   2. the same with `--sessions` idle sessions (heartbeating every 5 s, gate `resp`, interval 10 s) spread over
 *      load-worker processes, probed across more than one heartbeat sweep;
 *   3. a witness session echoing back to back while every idle session is dropped at once: its longest round trip
 *      (= how long the gate stalls other sessions).
 * Not part of `npm test`: it reports, it does not assert.
 *
 *   npm run build && node --import tsx test/bench/crowd.ts [--sessions 15000] [--system dev|nats] [--probes 30] [--tick] [--pin] [--profile DIR]
 * --pin puts the gate on core 0 and the clients on core 1 (Linux taskset), so the load does not take the gate's core.
 * `DUET_BENCH_ROOT=<checkout>` runs another copy's duet (A/B), as for `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { freePort } from '../harness/free-port.js';
import { BenchRoute } from './apps/bench-app.js';
import { LoadGroup } from './lib/load.js';
import { cpuMicros } from './lib/proc-stats.js';
import { median, sleep } from './lib/stats.js';
import { type System, startDuetDev, startDuetNats } from './lib/systems.js';
import { DUET_HEADER_BYTES, duetRequest } from './lib/wire.js';

const { values: a } = parseArgs({
  options: {
    sessions: { type: 'string', default: '15000' },
    system: { type: 'string', default: 'dev' },
    probes: { type: 'string', default: '30' },
    tick: { type: 'boolean', default: false },
    profile: { type: 'string' },
    pin: { type: 'boolean', default: false },
  },
});
const sessions = Number(a.sessions);
const probes = Number(a.probes);
const log = (l: string): void => void process.stdout.write(`${l}\n`);

interface Probe {
  openMs: number;
  echoMs: number;
}

/** One fresh session: connect, then its first echo. */
async function probe(url: string): Promise<Probe> {
  const t0 = performance.now();
  const ws = new WebSocket(url, { perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const t1 = performance.now();
    const reply = new Promise<void>((resolve) => {
      ws.on('message', (d: Buffer) => {
        if (d.length >= DUET_HEADER_BYTES && !((d[4] as number) & 0x80)) resolve();
      });
    });
    ws.send(duetRequest(1, 1, Buffer.from('first')));
    await reply;
    return { openMs: t1 - t0, echoMs: performance.now() - t1 };
  } finally {
    ws.terminate();
  }
}

async function probeSeries(url: string, n: number, gapMs: number): Promise<Probe[]> {
  const out: Probe[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await probe(url));
    await sleep(gapMs);
  }
  return out;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const show = (label: string, ps: Probe[]): void => {
  const total = ps.map((p) => p.openMs + p.echoMs);
  const echo = ps.map((p) => p.echoMs);
  log(
    `${label.padEnd(28)} first echo median ${median(echo).toFixed(1)} ms, p90 ${pct(echo, 90).toFixed(1)}, max ${Math.max(...echo).toFixed(1)}; ` +
      `open+echo median ${median(total).toFixed(1)} ms, max ${Math.max(...total).toFixed(1)} (${ps.length} probes)`,
  );
};

/** Echoes back to back on one session until `stop()`; returns the round trips with their start times. */
function witness(url: string): Promise<{ stop(): Promise<number[]>; starts: number[] }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const rtts: number[] = [];
  const starts: number[] = [];
  let running = true;
  let sentAt = 0;
  let isWaiting = false;
  const frame = duetRequest(1, 1, Buffer.from('w'));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.on('message', (d: Buffer) => {
        if (d.length < DUET_HEADER_BYTES || (d[4] as number) & 0x80) return;
        isWaiting = false;
        rtts.push(performance.now() - sentAt);
        starts.push(sentAt);
        if (running) setTimeout(fire, 2);
      });
      const fire = (): void => {
        isWaiting = true;
        sentAt = performance.now();
        ws.send(frame);
      };
      fire();
      resolve({
        starts,
        stop: async () => {
          running = false;
          await sleep(50);
          ws.terminate();
          // a request still unanswered counts with the time it has waited so far (a stall must not hide)
          if (isWaiting) {
            rtts.push(performance.now() - sentAt);
            starts.push(sentAt);
          }
          return rtts;
        },
      });
    });
  });
}

/**
 * How long the process's main thread has waited, runnable, for a core (Linux schedstat, ms; NaN elsewhere). On this
 * 2-core machine the load workers closing their sockets compete with the gate: this is the part of a stall that is
 * theirs, not the gate's.
 */
function runQueueWaitMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** The dev process's longest main-thread run time between two loop turns since the previous call (bench app route 30), in ms. */
async function cpuStallMs(url: string): Promise<number> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const reply = new Promise<Buffer>((resolve) => {
      ws.on('message', (d: Buffer) => {
        if (d.length >= DUET_HEADER_BYTES + 4 && !((d[4] as number) & 0x80)) resolve(d);
      });
    });
    ws.send(duetRequest(BenchRoute.STALL, 1, Buffer.alloc(0)));
    return (await reply).readUInt32BE(DUET_HEADER_BYTES) / 1000;
  } finally {
    ws.terminate();
  }
}

/** The gate's longest event-loop delay since the previous call, from its /metrics (the scrape resets it). */
async function loopLagMaxMs(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /duet_event_loop_lag_seconds\{stat="max"[^}]*\} ([\d.e+-]+)/.exec(text);
  return m ? Number(m[1]) * 1000 : Number.NaN;
}

/** With --pin, moves the load workers to their own core. */
let pinWorkers = (_pids: number[]): void => {};

async function main(): Promise<void> {
  const metricsPort = await freePort();
  const sets = ['session.resume.window="0s"', `metrics.addr="127.0.0.1:${metricsPort}"`];
  if (a.tick) sets.push('network.ws.server.heartbeatMechanism="tick"');
  const start = a.system === 'nats' ? startDuetNats : startDuetDev;
  const sys: System = await start({ duetSets: sets, cpuProfDir: a.profile });
  log(`crowd: ${sys.name} at ${sys.url}, pids ${JSON.stringify(sys.pids)}, ${sessions} idle sessions`);
  if (a.pin) {
    // --pin: the gate and this process (the probes and the witness, a few sockets) on core 0, the load workers on
    // core 1, as if the crowd were other machines: on 2 shared cores the workers' own work of closing 15,000 sockets
    // takes the gate's and the witness's core (printed as "waiting for a core"), and the stall measured is the load's.
    for (const pid of [...Object.values(sys.pids), process.pid]) {
      execFileSync('taskset', ['-a', '-p', '-c', '0', String(pid)], { stdio: 'ignore' });
    }
    pinWorkers = (pids) => {
      for (const pid of pids) execFileSync('taskset', ['-a', '-p', '-c', '1', String(pid)], { stdio: 'ignore' });
    };
    log('pinned: gate, probes and witness on core 0; load workers on core 1');
  }
  try {
    await probeSeries(sys.url, 10, 20); // warm-up
    const idle = await probeSeries(sys.url, probes, 50);
    show('idle gate', idle);

    const opened = performance.now();
    const group = await LoadGroup.open(
      {
        url: sys.url,
        protocol: 'duet',
        mode: 'idle',
        bodyBytes: 0,
        route: 1,
        heartbeatMs: 5000,
        connectConcurrency: 50,
      },
      sessions,
      3,
    );
    pinWorkers(group.pids);
    log(
      `${group.opened} sessions open (${group.failed} failed) in ${((performance.now() - opened) / 1000).toFixed(1)} s`,
    );
    group.idle();
    await sleep(2000);
    await loopLagMaxMs(metricsPort);
    const isDev = sys.pids.dev !== undefined;
    if (isDev) await cpuStallMs(sys.url);
    // spread over 12 s: at least one heartbeat sweep (10 s) falls inside
    const crowded = await probeSeries(sys.url, probes, Math.max(0, 12_000 / probes - 30));
    show(`${sessions} idle sessions`, crowded);
    const ratio = median(crowded.map((p) => p.echoMs)) / median(idle.map((p) => p.echoMs));
    log(`ratio crowded/idle first echo (median): ${ratio.toFixed(2)} (target <= 3)`);
    log(
      `gate event-loop delay max while crowded: ${(await loopLagMaxMs(metricsPort)).toFixed(1)} ms` +
        (isDev ? `; longest main-thread run time in one loop turn ${(await cpuStallMs(sys.url)).toFixed(1)} ms` : ''),
    );

    const w = await witness(sys.url);
    await sleep(500);
    await loopLagMaxMs(metricsPort);
    if (isDev) await cpuStallMs(sys.url);
    const gatePid = (sys.pids.gate ?? sys.pids.dev) as number;
    const cpuBefore = cpuMicros(gatePid) ?? Number.NaN;
    const waitBefore = runQueueWaitMs(gatePid);
    const closeAt = performance.now();
    await group.close();
    await sleep(3000);
    const rtts = await w.stop();
    const dropLag = await loopLagMaxMs(metricsPort);
    if (process.env.CROWD_DEBUG) {
      const top = rtts.map((r, i) => [r, (w.starts[i] as number) - closeAt] as const).sort((x, y) => y[0] - x[0]);
      log(
        `slowest: ${top
          .slice(0, 6)
          .map(([r, at]) => `${r.toFixed(0)} ms at +${at.toFixed(0)}`)
          .join(', ')}`,
      );
    }
    const dropCpuMs = ((cpuMicros(gatePid) ?? Number.NaN) - cpuBefore) / 1000;
    const dropWaitMs = runQueueWaitMs(gatePid) - waitBefore;
    const dropStall = isDev ? await cpuStallMs(sys.url) : Number.NaN;
    log(
      `drop ${sessions} at once: witness longest round trip ${Math.max(...rtts).toFixed(1)} ms over ${rtts.length} echoes ` +
        `(p99 ${pct(rtts, 99).toFixed(1)}, median ${median(rtts).toFixed(1)}; ${((performance.now() - closeAt) / 1000).toFixed(1)} s window, target <= 100 ms)`,
    );
    log(
      `gate event-loop delay max during the drop: ${dropLag.toFixed(1)} ms; gate CPU for it ${dropCpuMs.toFixed(0)} ms; ` +
        `gate main thread runnable but waiting for a core ${dropWaitMs.toFixed(0)} ms (other processes' load)` +
        (isDev ? `; longest main-thread run time in one loop turn ${dropStall.toFixed(1)} ms` : ''),
    );
  } finally {
    await sys.stop();
  }
}

await main();
