/**
 * The systems under test, each started as real processes on 127.0.0.1 with free ports, and the pids whose CPU the
 * bench charges to them:
 *   duet-nats    nats-server (JetStream, for the NATS KV registry) + `duet gate` + `duet node` (locator memory:
 *                the echo route is stateless, nothing reads the locator)
 *   duet-dev     `duet dev`: gate and node in one process on the memory bus
 *   duet-dev-tcp the same process, load on its TCP listener instead of WebSocket
 *   ws           a bare `ws` echo server
 *   passthrough  nats-server + the per-message pass-through gate + responder
 *   pinus        pinus 1.7.4: master + connector (hybridconnector) + one echo backend
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePorts } from '../../harness/free-port.js';
import { startNats } from '../../harness/nats.js';
import { startRedis } from '../../harness/redis.js';
import type { Protocol } from './load-protocol.js';
import { childPids, cmdline } from './proc-stats.js';
import { adopt, release, spawnReady, tempDir, tsNode } from './spawn.js';
import { TcpWs } from './tcp-ws.js';
import {
  duetRequest,
  POMELO_RESPONSE,
  PomeloPackage,
  pomeloHandshake,
  pomeloMessageHead,
  pomeloPackage,
  pomeloPackages,
  pomeloRequest,
  readDuetFrame,
} from './wire.js';

export type SystemName = 'duet-nats' | 'duet-dev' | 'duet-dev-tcp' | 'ws' | 'ws-prepared' | 'passthrough' | 'pinus';

export interface System {
  readonly name: SystemName;
  readonly url: string;
  readonly protocol: Protocol;
  /** Server processes by role (CPU and RSS are read from these). */
  readonly pids: Record<string, number>;
  /** The last output of the duet processes by role (their warnings and errors), for a run that went wrong. */
  logs?(): Record<string, string>;
  stop(): Promise<void>;
}

export interface SystemOptions {
  /** Extra `--set` flags for duet processes. */
  duetSets?: string[];
  /** Directory for --cpu-prof output of the duet processes (gate, node, dev); undefined = no profiling. */
  cpuProfDir?: string;
  /** duet-nats only: the locator on a redis-server of the bench's own instead of memory (logins write it). */
  redisLocator?: boolean;
}

const HERE = fileURLToPath(new URL('..', import.meta.url));
export const BENCH_APP = join(HERE, 'apps', 'bench-app.ts');
const PINUS_DIR = join(HERE, 'pinus');

/** Settings every duet process of the bench gets: quiet logs, no trace stream, room for 20k sockets. */
export const DUET_COMMON = [
  'mode="release"',
  'log.level="warn"',
  'trace.enabled=false',
  'network.ws.server.addr="127.0.0.1:0"',
  'network.ws.server.maxConnNum=30000',
  // every load worker connects from 127.0.0.1 and many never log in: the shipped per-IP caps would refuse them
  'network.ws.server.maxConnPerIp=0',
  'network.ws.server.maxHandshakePerIp=0',
  'network.ws.server.maxHandshakeNum=30000',
  'network.ws.server.authorizeTimeout="0s"',
  'network.ws.server.heartbeatInterval="10s"',
];

export const sets = (list: string[]): string[] => list.flatMap((s) => ['--set', s]);

/** DUET_BENCH_ROOT=<checkout> runs another copy of duet (A/B of a src change) with this bench. */
const DUET_BIN = join(process.env.DUET_BENCH_ROOT ?? join(HERE, '..', '..'), 'bin', 'duet.js');

/**
 * `node [--cpu-prof ...] bin/duet.js <args>` (node refuses --cpu-prof in NODE_OPTIONS, so the bench spawns duet
 * itself rather than through the test harness); resolves at its start-up line with the gate URL when it has one.
 */
export async function startDuetProcess(
  args: string[],
  profDir: string | undefined,
  profName: string,
): Promise<{ pid: number; url: string | undefined; stop(): Promise<void>; output(): string }> {
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}.cpuprofile`] : [];
  const extra = process.env.DUET_BENCH_NODE_ARGS ? process.env.DUET_BENCH_NODE_ARGS.split(' ') : [];
  const p = await spawnReady(
    process.execPath,
    [...prof, ...extra, DUET_BIN, ...args],
    /^duet (dev|gate|node): (.*)$/m,
    {
      timeoutMs: 30_000,
    },
  );
  const line = p.match[2] ?? '';
  const url = line.match(/ tcp on (tcp:\S+)/)?.[1] ?? line.match(/listening on (ws\S+)/)?.[1];
  return { pid: p.pid, url, stop: () => p.stop(), output: p.output };
}

/** Sends one echo request until one answers (the gate has learned the node's routes), or fails at the deadline. */
export async function probeEcho(url: string, protocol: Protocol, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const ws = url.startsWith('tcp://')
        ? (new TcpWs(url) as unknown as WebSocket)
        : new WebSocket(url, { perMessageDeflate: false });
      const timer = setTimeout(() => {
        ws.terminate();
        resolve(false);
      }, 1500);
      const done = (v: boolean): void => {
        clearTimeout(timer);
        ws.terminate();
        resolve(v);
      };
      ws.on('open', () => {
        if (protocol === 'pomelo') ws.send(pomeloHandshake());
        else ws.send(duetRequest(1, 7, Buffer.from('probe')));
      });
      ws.on('message', (d: Buffer) => {
        if (protocol === 'duet') {
          const f = readDuetFrame(d);
          if (f && !f.heartbeat && f.seq === 7) done(true);
          return;
        }
        for (const p of pomeloPackages(d)) {
          if (p.type === PomeloPackage.HANDSHAKE) {
            ws.send(pomeloPackage(PomeloPackage.HANDSHAKE_ACK));
            ws.send(pomeloRequest(7, 'echo.echoHandler.echo', '{"d":"probe"}'));
          } else if (p.type === PomeloPackage.DATA) {
            const h = pomeloMessageHead(p.body);
            if (h.type === POMELO_RESPONSE && h.id === 7) done(true);
          }
        }
      });
      ws.on('error', (e) => {
        last = e.message;
        done(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no echo from ${url} within ${timeoutMs} ms ${last}`);
}

/** `prepared`: the fan-out ceiling (one frame for every socket, corked), else one ws.send per push per socket. */
export async function startWsEcho(prepared = false): Promise<System> {
  const [cmd, args] = tsNode(join(HERE, 'servers', 'ws-echo.ts'), prepared ? ['prepared'] : []);
  const p = await spawnReady(cmd, args, /listening on (ws:\S+)/);
  const url = p.match[1] as string;
  const name = prepared ? 'ws-prepared' : 'ws';
  return { name, url, protocol: 'duet', pids: { server: p.pid }, stop: () => p.stop() };
}

export async function startDuetDev(o: SystemOptions = {}, tcp = false): Promise<System> {
  const tcpSets = tcp ? ['network.tcp.server.addr="127.0.0.1:0"', 'network.tcp.server.maxConnNum=30000'] : [];
  const dev = await startDuetProcess(
    ['dev', '--app', BENCH_APP, ...sets([...DUET_COMMON, ...tcpSets, ...(o.duetSets ?? [])])],
    o.cpuProfDir,
    'dev',
  );
  const url = dev.url as string;
  await probeEcho(url, 'duet');
  return {
    name: tcp ? 'duet-dev-tcp' : 'duet-dev',
    url,
    protocol: 'duet',
    pids: { dev: dev.pid },
    stop: async () => {
      await dev.stop();
    },
  };
}

export async function startDuetNats(o: SystemOptions = {}): Promise<System> {
  const nats = await startNats({ jetstream: true });
  const redis = o.redisLocator
    ? await startRedis().catch(async (err: unknown) => {
        await nats[Symbol.asyncDispose]();
        throw err;
      })
    : undefined;
  const prefix = `bench${process.pid}`;
  const locate = redis
    ? ['locate.adapter="redis"', `locate.redis.addrs=["${redis.addr}"]`]
    : ['locate.adapter="memory"'];
  const stopStores = async (): Promise<void> => {
    await nats[Symbol.asyncDispose]();
    await redis?.[Symbol.asyncDispose]();
  };
  const common = [
    ...DUET_COMMON,
    ...(process.env.DUET_BENCH_SETS ? process.env.DUET_BENCH_SETS.split(' ') : []),
    'bus.adapter="nats"',
    `bus.nats.servers=["${nats.url}"]`,
    `bus.nats.prefix="${prefix}"`,
    ...locate,
    'registry.adapter="nats"',
    `registry.nats.bucket="${prefix}-registry"`,
    'registry.nats.interval="1s"',
    ...(o.duetSets ?? []),
  ];
  const started: { stop(): Promise<unknown> }[] = [];
  try {
    const node = await startDuetProcess(['node', '--app', BENCH_APP, ...sets(common)], o.cpuProfDir, 'node');
    started.push(node);
    const gate = await startDuetProcess(['gate', ...sets(common)], o.cpuProfDir, 'gate');
    started.push(gate);
    const url = gate.url as string;
    await probeEcho(url, 'duet');
    return {
      name: 'duet-nats',
      url,
      protocol: 'duet',
      pids: { gate: gate.pid, nats: nats.pid, node: node.pid, ...(redis ? { redis: redis.pid } : {}) },
      logs: () => ({ gate: gate.output(), node: node.output() }),
      stop: async () => {
        await gate.stop();
        await node.stop();
        await stopStores();
      },
    };
  } catch (err) {
    for (const p of started.reverse()) await p.stop().catch(() => {});
    await stopStores();
    throw err;
  }
}

export async function startPassthrough(): Promise<System> {
  const nats = await startNats();
  const prefix = `pt${process.pid}`;
  try {
    const [c1, a1] = tsNode(join(HERE, 'servers', 'passthrough-responder.ts'), [nats.url, prefix]);
    const responder = await spawnReady(c1, a1, /responder ready/);
    const [c2, a2] = tsNode(join(HERE, 'servers', 'passthrough-gate.ts'), [nats.url, prefix]);
    const gate = await spawnReady(c2, a2, /listening on (ws:\S+)/).catch(async (err: unknown) => {
      await responder.stop();
      throw err;
    });
    const url = gate.match[1] as string;
    await probeEcho(url, 'duet');
    return {
      name: 'passthrough',
      url,
      protocol: 'duet',
      pids: { gate: gate.pid, nats: nats.pid, responder: responder.pid },
      stop: async () => {
        await gate.stop();
        await responder.stop();
        await nats[Symbol.asyncDispose]();
      },
    };
  } catch (err) {
    await nats[Symbol.asyncDispose]();
    throw err;
  }
}

/** Whether test/bench/pinus has its dependencies (the runner installs them on demand). */
export const PINUS_PACKAGE_DIR = PINUS_DIR;

export async function startPinus(): Promise<System> {
  const base = tempDir(await mkdtemp(join(tmpdir(), 'duet-bench-pinus-')));
  const [master, connector, connectorClient, echo] = await freePorts(4);
  const env = 'development';
  await symlink(join(PINUS_DIR, 'app'), join(base, 'app'));
  await writeFile(join(base, 'package.json'), '{"type":"commonjs"}\n');
  const cfg = (name: string, value: unknown): Promise<void> =>
    writeFile(join(base, 'config', name), JSON.stringify(value, null, 2));
  await mkdir(join(base, 'config'));
  await cfg('master.json', { [env]: { id: 'master-1', host: '127.0.0.1', port: master } });
  await cfg('servers.json', {
    [env]: {
      connector: [
        {
          id: 'connector-1',
          host: '127.0.0.1',
          port: connector,
          clientHost: '127.0.0.1',
          clientPort: connectorClient,
          frontend: true,
        },
      ],
      echo: [{ id: 'echo-1', host: '127.0.0.1', port: echo }],
    },
  });
  await cfg('log4js.json', {
    appenders: { console: { type: 'console' } },
    categories: { default: { appenders: ['console'], level: 'warn' } },
  });
  const proc = await spawnReady(process.execPath, [join(PINUS_DIR, 'app.js'), `env=${env}`], /./s, {
    cwd: PINUS_DIR,
    env: { DUET_PINUS_BASE: base },
    timeoutMs: 30_000,
  }).catch(async (err: unknown) => {
    await rm(base, { recursive: true, force: true });
    throw err;
  });
  const url = `ws://127.0.0.1:${connectorClient}/`;
  const stopAll = async (): Promise<void> => {
    const kids = childPids(proc.pid);
    await proc.stop();
    for (const pid of kids) {
      release(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(base, { recursive: true, force: true });
  };
  try {
    await probeEcho(url, 'pomelo', 30_000);
    const pids: Record<string, number> = { master: proc.pid };
    for (const pid of childPids(proc.pid)) {
      adopt(pid);
      const cl = cmdline(pid);
      if (cl.includes('serverType=connector')) pids.connector = pid;
      else if (cl.includes('serverType=echo')) pids.backend = pid;
    }
    return { name: 'pinus', url, protocol: 'pomelo', pids, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export function startSystem(name: SystemName, o: SystemOptions = {}): Promise<System> {
  switch (name) {
    case 'duet-nats':
      return startDuetNats(o);
    case 'duet-dev':
      return startDuetDev(o);
    case 'duet-dev-tcp':
      return startDuetDev(o, true);
    case 'ws':
      return startWsEcho();
    case 'ws-prepared':
      return startWsEcho(true);
    case 'passthrough':
      return startPassthrough();
    case 'pinus':
      return startPinus();
  }
}
