/**
 * Login storm (issue 15): a gate and a node over NATS with the Redis locator. `logins` connected clients log in at
 * once (diagnostic route 2: bindGate + bindNode, each a Redis write) while `steady` other sessions, logged in
 * like players in the game, echo every 10 ms (open loop, latency from the scheduled send). Reports logins/s, login latency, and the steady sessions'
 * echo p50/p99 before the storm and during it (samples cut to the storm's exact span), plus the same gate's
 * 100-client closed-loop echo req/s for the logins/s ratio. A first, unmeasured storm on connections of its own
 * warms JIT and Redis; the measured one is first logins on fresh connections, with uids never bound before.
 */
import { execFileSync } from 'node:child_process';
import { Histogram } from '../lib/histogram.js';
import { LoadGroup, type LoginStorm } from '../lib/load.js';
import { cpuDelta, cpuSnapshot } from '../lib/proc-stats.js';
import { sleep } from '../lib/stats.js';
import type { System } from '../lib/systems.js';

export interface StormResult {
  system: string;
  logins: number;
  steady: number;
  /** Closed-loop echo of 100 clients on the same gate, req/s. */
  echo100Rps: number;
  loginsPerSec: number;
  stormMs: number;
  loginP50ms: number;
  loginP99ms: number;
  loginsFailed: number;
  before: { p50ms: number; p99ms: number; samples: number };
  during: { p50ms: number; p99ms: number; samples: number };
  steadyLost: number;
  /** CPU time per process from the measured storm's start to its last answer (/proc, 10 ms ticks), ms. */
  stormCpuMs: Record<string, number>;
}

export interface StormOptions {
  logins: number;
  steady: number;
  beforeMs: number;
  /**
   * The measured storm's load process on core 1 alone (Linux taskset): its 5,000 writes model clients on other
   * machines and cannot take a server's core; the servers keep both cores.
   */
  pinLoad?: boolean;
  log(line: string): void;
}

const STEADY_RATE_PER_CONN = 100;

function cut(s: { atEpoch: number[]; ms: number[] }, from: number, to: number): Histogram {
  const h = new Histogram();
  for (let i = 0; i < s.atEpoch.length; i++) {
    const at = s.atEpoch[i] as number;
    if (at >= from && at <= to) h.record((s.ms[i] as number) * 1000);
  }
  return h;
}

const figures = (h: Histogram): { p50ms: number; p99ms: number; samples: number } => ({
  p50ms: h.quantile(0.5) / 1000,
  p99ms: h.quantile(0.99) / 1000,
  samples: h.toJSON().total,
});

async function echo100(sys: System): Promise<number> {
  const g = await LoadGroup.open({ url: sys.url, protocol: 'duet', mode: 'closed', bodyBytes: 32, route: 1 }, 100, 1);
  try {
    return (await g.run(500, 2000)).rate;
  } finally {
    await g.close();
  }
}

export async function runStorm(sys: System, o: StormOptions): Promise<StormResult> {
  const echo100Rps = await echo100(sys);
  o.log(`  ${sys.name} 100-client echo: ${Math.round(echo100Rps)} req/s`);
  const steady = await LoadGroup.open(
    {
      url: sys.url,
      protocol: 'duet',
      mode: 'open',
      bodyBytes: 32,
      route: 1,
      ratePerConn: STEADY_RATE_PER_CONN,
      keepSamples: true,
      // players already in the game: logged in, as the gate's established sessions are
      bindUid: 900_000_000,
    },
    o.steady,
    1,
  );
  const stormSpec = {
    url: sys.url,
    protocol: 'duet',
    mode: 'login',
    bodyBytes: 0,
    route: 2,
    loginUidBase: 1,
    connectConcurrency: 200,
  } as const;
  // The warm-up logs in on connections of its own, closed before the measured storm: that one is first logins on
  // fresh connections, as after a restart (a second login on a bound connection is a rebind, not a storm's login).
  const warmGroup = await LoadGroup.open(stormSpec, o.logins, 1);
  let warm: LoginStorm;
  try {
    if (warmGroup.failed > 0) throw new Error(`${warmGroup.failed} clients failed to connect`);
    warm = await warmGroup.login(10_000_000, 30_000);
  } finally {
    await warmGroup.close();
  }
  const storm = await LoadGroup.open(stormSpec, o.logins, 1);
  if (o.pinLoad) {
    for (const pid of storm.pids) execFileSync('taskset', ['-a', '-p', '-c', '1', String(pid)], { stdio: 'ignore' });
    o.log(`  ${sys.name} storm load process pinned to core 1`);
  }
  try {
    if (steady.failed + storm.failed > 0) throw new Error(`${steady.failed + storm.failed} clients failed to connect`);
    const warmMs = warm.lastAnswerEpoch - warm.firstSendEpoch;
    o.log(`  ${sys.name} warm-up storm: ${warm.ok}/${o.logins} logins in ${Math.round(warmMs)} ms`);
    await sleep(300);
    // One steady window: before (beforeMs), the storm (sized from the warm-up's), a margin; samples are cut after.
    const window = steady.run(200, o.beforeMs + Math.min(15_000, 2 * warmMs + 1000));
    await sleep(200 + o.beforeMs);
    const procs = { ...sys.pids, 'storm clients': storm.pids[0] as number, 'steady clients': steady.pids[0] as number };
    const cpuBefore = cpuSnapshot(procs);
    const s = await storm.login(20_000_000, 30_000);
    const stormCpuMs = Object.fromEntries(
      Object.entries(cpuDelta(cpuBefore, cpuSnapshot(procs))).map(([k, v]) => [k, Math.round(v / 1000)]),
    );
    const stormMs = s.lastAnswerEpoch - s.firstSendEpoch;
    const result = await window;
    const before = figures(cut(result.samples, s.firstSendEpoch - o.beforeMs, s.firstSendEpoch));
    const during = figures(cut(result.samples, s.firstSendEpoch, s.lastAnswerEpoch));
    const out: StormResult = {
      system: sys.name,
      logins: o.logins,
      steady: o.steady,
      echo100Rps,
      loginsPerSec: s.ok / (stormMs / 1000),
      stormMs,
      loginP50ms: s.hist.quantile(0.5) / 1000,
      loginP99ms: s.hist.quantile(0.99) / 1000,
      loginsFailed: s.failed,
      before,
      during,
      steadyLost: result.lost,
      stormCpuMs,
    };
    if (warm.failed + s.failed + result.lost > 0) {
      // What the gate and node said (warn and error lines): a storm that lost answers must show why.
      for (const [role, text] of Object.entries(sys.logs?.() ?? {})) {
        const lines = text.split('\n').filter((l) => /warn|error|fail/i.test(l));
        o.log(`  ${role} said (last ${Math.min(20, lines.length)} of ${lines.length} warn/error lines):`);
        for (const l of lines.slice(-20)) o.log(`    ${l.slice(0, 300)}`);
      }
    }
    o.log(
      `  ${sys.name} storm: ${s.ok}/${o.logins} logins in ${Math.round(stormMs)} ms = ${Math.round(out.loginsPerSec)}/s; steady p99 ${before.p99ms.toFixed(2)} ms before, ${during.p99ms.toFixed(2)} ms during`,
    );
    o.log(
      `  CPU over the storm (ms): ${Object.entries(stormCpuMs)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    return out;
  } finally {
    await storm.close();
    await steady.close();
  }
}
