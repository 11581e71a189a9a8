/**
 * npm run soak (issue 10): a bounded soak of one gate. Starts `duet dev` (or, with --nats, a nats-server with
 * JetStream, a redis-server, `duet gate` and `duet node`), spreads --sessions over load processes
 * (soak-worker.ts, ≤ 2,500 sockets each) with logins, heartbeats every 5 s, echo traffic and churn, samples the
 * gate's RSS and open fds every 10 s, prints a table and a verdict on RSS growth, then the fds left open once every
 * client has gone. Bounded by --minutes (default 10). Exit 0 when no growth beyond noise and no errors, 1 otherwise.
 *
 *   node --import tsx test/soak/soak.ts [--minutes 10] [--sessions 5000] [--per-worker 2500] [--echo-every 5]
 *       [--churn 0.02] [--churn-every 5] [--nats]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { freePort } from '../harness/free-port.js';
import { startNats } from '../harness/nats.js';
import { startRedis } from '../harness/redis.js';
import { median, type WorkerConfig, type WorkerReport } from './soak-protocol.js';

const SAMPLE_MS = 10_000;
const WARMUP_MS = 60_000;
const MAX_PER_WORKER = 2500;
/** RSS growth under both bounds is noise (GC timing, allocator pages) on a shared 2-core box. */
const NOISE_FRACTION = 0.1;
const NOISE_BYTES = 24 * 1024 * 1024;

const { values: a } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    sessions: { type: 'string', default: '5000' },
    'per-worker': { type: 'string', default: String(MAX_PER_WORKER) },
    'echo-every': { type: 'string', default: '5' },
    churn: { type: 'string', default: '0.02' },
    'churn-every': { type: 'string', default: '5' },
    nats: { type: 'boolean', default: false },
  },
});
const minutes = Number(a.minutes);
const total = Number(a.sessions);
const perWorker = Math.min(MAX_PER_WORKER, Number(a['per-worker']));
if (!(minutes > 0) || !(total > 0) || !(perWorker > 0)) {
  process.stderr.write('soak: --minutes, --sessions and --per-worker must be positive numbers\n');
  process.exit(2);
}

interface Sample {
  atS: number;
  rssMb: number;
  fds: number;
  open: number;
  loggedIn: number;
  reqPerS: number;
  p50: number;
  p99: number;
  errors: number;
}

const rssBytes = (pid: number): number => {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
};
const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const errorsOf = (r: WorkerReport): number =>
  r.timeouts + r.loginErrors + r.connectFailures + Object.values(r.unexpectedCloses).reduce((x, y) => x + y, 0);

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups.length = 0;
}

async function startServer(): Promise<{ gate: DuetProcess; url: string }> {
  const port = await freePort();
  const common = [
    '--set',
    `network.ws.server.addr="127.0.0.1:${port}"`,
    '--set',
    `network.ws.server.maxConnNum=${total * 2}`,
    '--set',
    'network.ws.server.heartbeatInterval="5s"',
    // every session comes from 127.0.0.1: the shipped per-IP caps are for real clients
    '--set',
    'network.ws.server.maxConnPerIp=0',
    '--set',
    'network.ws.server.maxHandshakePerIp=0',
    '--set',
    'log.level="warn"',
    '--set',
    'trace.enabled=false',
  ];
  if (!a.nats) {
    const gate = await startDuet(['dev', ...common]);
    cleanups.push(() => gate.stop());
    return { gate, url: `ws://127.0.0.1:${port}/` };
  }
  const [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
  cleanups.push(
    () => nats[Symbol.asyncDispose](),
    () => redis[Symbol.asyncDispose](),
  );
  const prefix = `soak${process.pid}`;
  const cluster = [
    '--set',
    'bus.adapter="nats"',
    '--set',
    `bus.nats.servers=["${nats.url}"]`,
    '--set',
    `bus.nats.prefix="${prefix}"`,
    '--set',
    'locate.adapter="redis"',
    '--set',
    `locate.redis.addrs=["${redis.addr}"]`,
    '--set',
    'registry.adapter="nats"',
    '--set',
    `registry.nats.bucket="${prefix}-registry"`,
  ];
  const node = await startDuet(['node', ...cluster, '--set', 'log.level="warn"']);
  cleanups.push(() => node.stop());
  const gate = await startDuet(['gate', ...cluster, ...common]);
  cleanups.push(() => gate.stop());
  return { gate, url: `ws://127.0.0.1:${port}/` };
}

function spawnWorkers(url: string, reports: Map<number, WorkerReport>): ChildProcess[] {
  const n = Math.max(2, Math.ceil(total / perWorker));
  const each = Math.ceil(total / n);
  const workers: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const count = Math.min(each, total - i * each);
    if (count <= 0) break;
    const cfg: WorkerConfig = {
      url,
      count,
      uidBase: 1 + i * each,
      heartbeatMs: 5000,
      echoEveryMs: Number(a['echo-every']) * 1000,
      churnFraction: Number(a.churn),
      churnEveryMs: Number(a['churn-every']) * 1000,
      rampPerSec: 500,
      reportMs: SAMPLE_MS / 2,
    };
    const w = fork(fileURLToPath(new URL('./soak-worker.ts', import.meta.url)), [JSON.stringify(cfg)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    w.on('message', (m: WorkerReport) => {
      if (m.type === 'report') reports.set(i, m);
    });
    workers.push(w);
    cleanups.push(async () => {
      if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    });
  }
  return workers;
}

function sum(reports: Map<number, WorkerReport>, f: (r: WorkerReport) => number): number {
  let s = 0;
  for (const r of reports.values()) s += f(r);
  return s;
}

const pad = (v: string | number, n: number): string => String(v).padStart(n);

async function main(): Promise<number> {
  const { gate, url } = await startServer();
  const pid = gate.pid;
  const baseFds = fdCount(pid);
  const baseRss = rssBytes(pid);
  process.stdout.write(
    `soak: ${a.nats ? 'duet gate + node over NATS' : 'duet dev'} pid ${pid} at ${url}; ${total} sessions, ` +
      `${minutes} min, echo every ${a['echo-every']} s, churn ${Number(a.churn) * 100}% every ${a['churn-every']} s; ` +
      `idle gate: RSS ${(baseRss / 2 ** 20).toFixed(1)} MB, ${baseFds} fds\n`,
  );
  const reports = new Map<number, WorkerReport>();
  const workers = spawnWorkers(url, reports);
  const samples: Sample[] = [];
  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  process.stdout.write(
    `${pad('t(s)', 6)} ${pad('RSS MB', 8)} ${pad('fds', 6)} ${pad('open', 6)} ${pad('login', 6)} ` +
      `${pad('req/s', 7)} ${pad('p50ms', 6)} ${pad('p99ms', 6)} ${pad('errors', 7)}\n`,
  );
  let lastReq = 0;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(SAMPLE_MS, end - Date.now())));
    if (!gate.running) throw new Error(`the gate exited during the soak:\n${gate.output.slice(-2000)}`);
    const req = sum(reports, (r) => r.requests);
    const s: Sample = {
      atS: Math.round((Date.now() - t0) / 1000),
      rssMb: rssBytes(pid) / 2 ** 20,
      fds: fdCount(pid),
      open: sum(reports, (r) => r.open),
      loggedIn: sum(reports, (r) => r.loggedIn),
      reqPerS: Math.round(((req - lastReq) * 1000) / SAMPLE_MS),
      p50: Math.max(0, ...[...reports.values()].map((r) => r.p50Ms)),
      p99: Math.max(0, ...[...reports.values()].map((r) => r.p99Ms)),
      errors: sum(reports, errorsOf),
    };
    lastReq = req;
    samples.push(s);
    process.stdout.write(
      `${pad(s.atS, 6)} ${pad(s.rssMb.toFixed(1), 8)} ${pad(s.fds, 6)} ${pad(s.open, 6)} ${pad(s.loggedIn, 6)} ` +
        `${pad(s.reqPerS, 7)} ${pad(s.p50, 6)} ${pad(s.p99, 6)} ${pad(s.errors, 7)}\n`,
    );
  }

  // Verdict: the median RSS of the last third of the post-warm-up samples against the first third.
  const steady = samples.filter((s) => s.atS * 1000 >= WARMUP_MS);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const first = median(steady.slice(0, third).map((s) => s.rssMb));
  const last = median(steady.slice(-third).map((s) => s.rssMb));
  const growthMb = last - first;
  const grew = steady.length >= 3 && growthMb * 2 ** 20 > Math.max(NOISE_BYTES, first * 2 ** 20 * NOISE_FRACTION);

  // Stop the load, then see what the gate still holds once every client has gone.
  for (const w of workers) w.send('stop');
  await Promise.all(
    workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', () => r(null))))),
  );
  const deadline = Date.now() + 20_000;
  while (fdCount(pid) > baseFds && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const endFds = fdCount(pid);
  const endRss = rssBytes(pid) / 2 ** 20;
  const fin = [...reports.values()];
  const closes: Record<string, number> = {};
  for (const r of fin) for (const [k, v] of Object.entries(r.unexpectedCloses)) closes[k] = (closes[k] ?? 0) + v;
  process.stdout.write(
    `\ntotals: ${sum(reports, (r) => r.connects)} connects, ${sum(reports, (r) => r.churned)} churned, ` +
      `${sum(reports, (r) => r.requests)} requests, ${sum(reports, (r) => r.responses)} responses, ` +
      `${sum(reports, (r) => r.timeouts)} timeouts, ${sum(reports, (r) => r.loginErrors)} login errors, ` +
      `${sum(reports, (r) => r.connectFailures)} connect failures, unexpected closes ${JSON.stringify(closes)}, ` +
      `${sum(reports, (r) => r.heartbeatsIn)} heartbeats answered\n` +
      `RSS (post warm-up): first-third median ${first.toFixed(1)} MB, last-third median ${last.toFixed(1)} MB, ` +
      `growth ${growthMb.toFixed(1)} MB → ${grew ? 'GROWTH beyond noise' : 'no growth beyond noise'}\n` +
      `after all clients left: gate fds ${endFds} (idle before: ${baseFds}), RSS ${endRss.toFixed(1)} MB ` +
      `(idle before: ${(baseRss / 2 ** 20).toFixed(1)} MB)\n`,
  );
  const errors = sum(reports, errorsOf);
  const exit = await gate.stop();
  await cleanup();
  // Child pipes close just after their process's exit event: give them up to 3 s before looking.
  const live = (): string[] => process.getActiveResourcesInfo().filter((h) => h !== 'TTYWrap' && h !== 'Timeout');
  for (let i = 0; i < 30 && live().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  const handles = live();
  process.stdout.write(
    `gate exit code ${exit}; soak process handles still open: ${handles.length ? handles.join(', ') : 'none'}\n`,
  );
  return grew || errors > 0 || endFds > baseFds ? 1 : 0;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup();
    process.exitCode = 1;
  });
process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});
