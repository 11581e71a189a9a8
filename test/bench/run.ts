/**
 * `npm run bench [-- --quick] [--pin-storm] [--json FILE] [--only echo,open,broadcast,storm,reconnect,idle,rpc,trace] [--systems a,b] [--runs N]
 *  [--profile DIR [--profile-clients N] [--profile-body BYTES]]` — issue 9's benchmark suite (not part of npm test). Everything runs on 127.0.0.1 in processes
 * this runner starts on free ports and stops by pid: nats-server, duet gate/node/dev, a bare ws echo server, the
 * per-message pass-through baseline, pinus 1.7.4 (installed on demand into test/bench/pinus), and the load workers.
 * --profile DIR runs only a CPU-profiled NATS echo (gate and node under --cpu-prof) and a profiled broadcast on
 * `duet dev`, and prints their hot spots (self time, and inclusive time of the project's functions).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { envInfo } from './lib/env-info.js';
import { type BenchReport, formatReport, ratios } from './lib/report.js';
import { killAllSpawned } from './lib/spawn.js';
import { sleep } from './lib/stats.js';
import { PINUS_PACKAGE_DIR, type System, type SystemName, startSystem } from './lib/systems.js';
import { formatInclusive, formatTop, topInclusive, topSelf } from './profile-top.js';
import { runBroadcast } from './scenarios/broadcast.js';
import { type EchoLoad, runEcho } from './scenarios/echo.js';
import { runIdle } from './scenarios/idle.js';
import { runReconnect } from './scenarios/reconnect.js';
import { runRpc } from './scenarios/rpc.js';
import { runStorm } from './scenarios/storm.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ALL_SYSTEMS: SystemName[] = ['duet-nats', 'pinus', 'passthrough', 'duet-dev', 'duet-dev-tcp', 'ws'];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    only: { type: 'string' },
    systems: { type: 'string' },
    runs: { type: 'string' },
    profile: { type: 'string' },
    'profile-clients': { type: 'string' },
    'profile-body': { type: 'string' },
    'pin-storm': { type: 'boolean', default: false },
  },
});

const quick = args.quick === true;
const settings = quick
  ? {
      runs: 1,
      warmupMs: 500,
      measureMs: 1500,
      loads: [
        { clients: 100, bodyBytes: 32 },
        { clients: 1000, bodyBytes: 32 },
      ],
      broadcast: { sessions: 5000, bursts: [1, 20], systems: ['duet-dev', 'ws', 'ws-prepared'] as SystemName[] },
      idle: { sessions: 2000, settleMs: 1500 },
      open: { clients: 1000, totalRate: 10_000, measureMs: 2000 },
      storm: { logins: 5000, steady: 50, beforeMs: 1500 },
      reconnect: { sessions: 5000, steady: 50, beforeMs: 1500, deadlineMs: 30_000 },
      rpc: { concurrency: 50, bodyBytes: 32, measureMs: 1500 },
    }
  : {
      runs: 3,
      warmupMs: 1000,
      measureMs: 2500,
      loads: [
        { clients: 100, bodyBytes: 32 },
        { clients: 1000, bodyBytes: 32 },
        { clients: 100, bodyBytes: 1024 },
        { clients: 1000, bodyBytes: 1024 },
      ],
      broadcast: {
        sessions: 5000,
        bursts: [1, 20],
        systems: ['duet-dev', 'duet-nats', 'ws', 'ws-prepared'] as SystemName[],
      },
      idle: { sessions: 10_000, settleMs: 3000 },
      open: { clients: 1000, totalRate: 10_000, measureMs: 4000 },
      storm: { logins: 5000, steady: 50, beforeMs: 3000 },
      reconnect: { sessions: 10_000, steady: 50, beforeMs: 3000, deadlineMs: 40_000 },
      rpc: { concurrency: 50, bodyBytes: 32, measureMs: 2500 },
    };
if (args.runs) settings.runs = Number(args.runs);
const only = new Set((args.only ?? 'echo,open,broadcast,storm,reconnect,idle,rpc,trace').split(','));
const wanted = (args.systems ? args.systems.split(',') : ALL_SYSTEMS) as SystemName[];

const log = (line: string): void => console.log(line);
const started = Date.now();
const skipped: Record<string, string> = {};

/** pinus lives in its own package (test/bench/pinus): install it on first use with npm's ordinary client. */
function ensurePinus(): string | undefined {
  if (existsSync(join(PINUS_PACKAGE_DIR, 'node_modules', 'pinus', 'package.json'))) return undefined;
  log('installing pinus 1.7.4 into test/bench/pinus (npm install --prefix test/bench/pinus) ...');
  try {
    execFileSync('npm', ['install', '--prefix', PINUS_PACKAGE_DIR, '--no-audit', '--no-fund'], {
      stdio: 'inherit',
      timeout: 300_000,
    });
    return undefined;
  } catch (err) {
    return `npm install --prefix test/bench/pinus failed: ${(err as Error).message}`;
  }
}

async function startAll(names: SystemName[]): Promise<System[]> {
  const out: System[] = [];
  for (const name of names) {
    if (skipped[name]) continue;
    try {
      const t = Date.now();
      const sys = await startSystem(name);
      out.push(sys);
      // Discarded warm-up load: JIT and heap settle before anything is measured.
      await runEcho([sys], [{ clients: 100, bodyBytes: 32, mode: 'closed' }], {
        warmupMs: 0,
        measureMs: quick ? 1000 : 2000,
        runs: 1,
        log: () => {},
      });
      log(`started ${name} in ${Date.now() - t} ms (with warm-up load)`);
    } catch (err) {
      skipped[name] = `did not start: ${(err as Error).message.split('\n')[0]}`;
      log(`! ${name} ${skipped[name]}`);
    }
  }
  return out;
}

async function profile(dir: string): Promise<void> {
  const clients = Number(args['profile-clients'] ?? 1000);
  const bodyBytes = Number(args['profile-body'] ?? 32);
  const load: EchoLoad = { clients, bodyBytes, mode: 'closed' };
  const opts = { warmupMs: 1000, measureMs: 8000, runs: 1, log };
  const sub = (name: string): string => {
    const d = join(resolve(dir), name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const profiles: [string, string][] = [];
  const nats = await startSystem('duet-nats', { cpuProfDir: sub('nats-echo') });
  try {
    log(formatReport(emptyReport({ echo: await runEcho([nats], [load], opts) })));
  } finally {
    await nats.stop();
  }
  profiles.push(['gate (NATS echo)', join(dir, 'nats-echo', 'gate.cpuprofile')]);
  profiles.push(['node (NATS echo)', join(dir, 'nats-echo', 'node.cpuprofile')]);
  const devEcho = await startSystem('duet-dev', { cpuProfDir: sub('dev-echo') });
  try {
    log(formatReport(emptyReport({ echo: await runEcho([devEcho], [load], opts) })));
  } finally {
    await devEcho.stop();
  }
  profiles.push(['dev (in-process echo)', join(dir, 'dev-echo', 'dev.cpuprofile')]);
  const dev = await startSystem('duet-dev', { cpuProfDir: sub('dev-broadcast') });
  try {
    const b = await runBroadcast(dev, { sessions: 5000, pushes: 20, bodyBytes: 32, runs: 3, log });
    log(formatReport(emptyReport({ broadcast: [b] })));
  } finally {
    await dev.stop();
  }
  profiles.push(['dev (broadcast)', join(dir, 'dev-broadcast', 'dev.cpuprofile')]);
  for (const [name, file] of profiles) {
    if (!existsSync(file)) {
      log(`no profile written for ${name} (${file})`);
      continue;
    }
    log(`\n${formatTop(name, topSelf(file, 30))}`);
    log(`\n${formatInclusive(name, topInclusive(file, 25))}`);
    log(`(profile: ${file})`);
  }
}

function emptyReport(part: Partial<BenchReport>): BenchReport {
  const base: Omit<BenchReport, 'ratios'> = {
    env: envInfo(ROOT, PINUS_PACKAGE_DIR),
    mode: quick ? 'quick' : 'full',
    settings,
    echo: [],
    openLoop: [],
    broadcast: [],
    storm: [],
    reconnect: [],
    idle: [],
    skipped,
    loadavgEnd: loadavg(),
    elapsedSeconds: (Date.now() - started) / 1000,
    ...part,
  };
  return { ...base, ratios: ratios(base) };
}

async function main(): Promise<void> {
  if (args.profile) {
    await profile(args.profile);
    return;
  }
  const needEcho = only.has('echo') || only.has('open');
  if (needEcho && wanted.includes('pinus')) {
    // Before envInfo, so the header names the pinus version that runs.
    const why = ensurePinus();
    if (why) skipped.pinus = why;
  }
  const env = envInfo(ROOT, PINUS_PACKAGE_DIR);
  log(
    `duet bench (${quick ? 'quick' : 'full'}) on ${env.nproc} × ${env.cpuModel}, node ${env.node}, ${env.natsServer}`,
  );
  const report: Omit<BenchReport, 'ratios'> = {
    env,
    mode: quick ? 'quick' : 'full',
    settings,
    echo: [],
    openLoop: [],
    broadcast: [],
    storm: [],
    reconnect: [],
    idle: [],
    skipped,
    loadavgEnd: [],
    elapsedSeconds: 0,
  };

  const systems = needEcho ? await startAll(wanted) : [];
  try {
    if (only.has('echo')) {
      log('\n== echo, closed loop');
      const loads: EchoLoad[] = settings.loads.map((l) => ({ ...l, mode: 'closed' }));
      report.echo = await runEcho(systems, loads, { ...settings, log });
    }
    if (only.has('open')) {
      log('\n== open loop');
      const open = systems.filter((s) => s.name === 'duet-nats' || s.name === 'ws');
      const load: EchoLoad = { ...settings.open, bodyBytes: 32, mode: 'open' };
      report.openLoop = await runEcho(open, [load], { ...settings, measureMs: settings.open.measureMs, log });
    }
  } finally {
    for (const s of systems) await s.stop().catch((err: unknown) => log(`! stop ${s.name}: ${String(err)}`));
  }

  if (only.has('broadcast')) {
    log('\n== broadcast');
    for (const name of settings.broadcast.systems) {
      const sys = await startSystem(name);
      try {
        for (const pushes of settings.broadcast.bursts) {
          report.broadcast.push(
            await runBroadcast(sys, {
              sessions: settings.broadcast.sessions,
              pushes,
              bodyBytes: 32,
              runs: Math.max(3, settings.runs),
              log,
            }),
          );
        }
      } catch (err) {
        skipped[`broadcast ${name}`] = (err as Error).message;
      } finally {
        await sys.stop();
      }
    }
  }

  if (only.has('storm')) {
    log('\n== login storm (NATS + Redis locator)');
    const sys = await startSystem('duet-nats', { redisLocator: true });
    try {
      report.storm = [await runStorm(sys, { ...settings.storm, pinLoad: args['pin-storm'] === true, log })];
    } catch (err) {
      skipped.storm = (err as Error).message;
    } finally {
      await sys.stop();
    }
  }

  if (only.has('reconnect')) {
    log('\n== reconnect storm (gate A restarted under duet/client sessions; gate B serving steady sessions)');
    try {
      report.reconnect = [await runReconnect({ ...settings.reconnect, log })];
    } catch (err) {
      skipped.reconnect = (err as Error).message;
    }
  }

  if (only.has('rpc')) {
    log('\n== rpc between two nodes');
    report.rpc = await runRpc({ ...settings.rpc, warmupMs: settings.warmupMs, runs: settings.runs, log });
  }

  if (only.has('idle')) {
    log('\n== idle sessions');
    await sleep(500);
    report.idle = await runIdle((n) => startSystem(n), ['duet-dev', 'ws'], {
      sessions: settings.idle.sessions,
      heartbeatMs: 5000,
      settleMs: settings.idle.settleMs,
      runs: settings.runs,
      log,
    });
  }

  if (only.has('trace')) {
    // Issue 19: what the on-demand trace costs a session transition when no tracer holds a lease (actor-micro.ts).
    log('\n== trace hook cost per session transition (test/bench/actor-micro.ts)');
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'bench', 'actor-micro.ts')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    for (const line of out.split('\n')) if (/trace hook with/.test(line)) log(`  ${line}`);
  }

  report.loadavgEnd = loadavg();
  report.elapsedSeconds = (Date.now() - started) / 1000;
  const full: BenchReport = { ...report, ratios: ratios(report) };
  log(`\n${formatReport(full)}`);
  if (args.json) {
    writeFileSync(args.json, `${JSON.stringify(full, null, 2)}\n`);
    log(`\nwrote ${args.json}`);
  }
}

// Every scenario is bounded on its own; this bounds the whole run (a wedged process must not hold the machine).
const watchdog = setTimeout(
  () => {
    console.error(`bench: still running after ${quick ? 3 : 25} minutes, giving up`);
    killAllSpawned();
    process.exit(1);
  },
  (quick ? 3 : 25) * 60_000,
);
watchdog.unref();
// Ctrl-C / SIGTERM: a signal death skips 'exit' handlers, so kill every server and worker first, then exit.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`bench: ${sig}, stopping every process it started`);
    killAllSpawned();
    process.exit(130);
  });
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    console.error(err);
    killAllSpawned();
    process.exit(1);
  });
