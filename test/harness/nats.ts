import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './free-port.js';
import { serverBin } from './server-bin.js';

/**
 * Real nats-server processes for tests (docs/contributing.md, modelled on nats.js nst/src/launcher.ts): each server
 * binds 127.0.0.1 on ports chosen by the server itself (`-p -1`, read back from its ports file), keeps its
 * JetStream store and log in its own temp dir, and is stopped by pid. Every process started here is tracked and
 * SIGKILLed when the test process exits, so a test that forgets one cannot leak it.
 */

export interface NatsClusterOptions {
  /** Cluster name shared by all members (`--cluster_name`). */
  name: string;
  /** Route listen port; -1 lets the server choose. */
  port: number;
  /** Route URLs of the other members, `nats://127.0.0.1:<port>`. */
  routes: string[];
}

export interface StartNatsOptions {
  /** Enable JetStream with the store in this server's temp dir. */
  jetstream?: boolean;
  cluster?: NatsClusterOptions;
  /** Server name (`-n`); unique per process by default. JetStream in a cluster needs one. */
  name?: string;
  /** Extra nats-server arguments, appended last (`--user`, `--tls`, `-D`...). */
  args?: string[];
  /** Extra environment of the server process (a config file's `$NAME` references read it). */
  env?: Record<string, string>;
  /** How long start/restart may take before failing. Default 10 s. */
  startTimeoutMs?: number;
}

export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`; the same after restart(). */
  readonly url: string;
  readonly port: number;
  /** The current process id (changes on restart()). */
  readonly pid: number;
  /** `http://127.0.0.1:<port>` of the monitoring endpoint (/varz, /routez, /jsz). */
  readonly monitorUrl: string;
  /** `nats://127.0.0.1:<port>` of the route listener, when started with `cluster`. */
  readonly clusterUrl: string | undefined;
  readonly name: string;
  /** The temp dir holding the JetStream store, log and ports file; removed on dispose. */
  readonly dir: string;
  readonly running: boolean;
  /** SIGTERM, wait for exit, SIGKILL after 3 s. Keeps the store so restart() can follow. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL (an abrupt outage), resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops the server if running, then starts it again on the same ports with the same store. */
  restart(): Promise<void>;
  /** The last lines of the server log, for assertion messages. */
  logTail(lines?: number): Promise<string>;
  /** stop() and remove the temp dir. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface NatsCluster extends AsyncDisposable {
  readonly servers: NatsServer[];
  /** Client URLs, in server order. */
  readonly urls: string[];
  /** Polls /routez (and /jsz with JetStream) until every running member routes to every other running member. */
  waitFormed(timeoutMs?: number): Promise<void>;
}

export interface StartNatsClusterOptions {
  jetstream?: boolean;
  /** Cluster name; unique per process by default. */
  name?: string;
  args?: string[];
  startTimeoutMs?: number;
  /** Deadline for the routes to form. Default 15 s. */
  formTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const DEFAULT_FORM_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const EXIT_WAIT_MS = 5_000;
const POLL_MS = 25;

// Process-wide registry of what the harness started, so the exit hook can kill leftovers. Test-only state.
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;
let nameSeq = 0;

function killLeftovers(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', killLeftovers);
  // Ctrl-C or the runner's SIGTERM skips 'exit': clean up, then let the signal do what it would have done.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killLeftovers();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

/** How many nats-server processes this test process still has running (a test can assert 0 at the end). */
export function liveNatsServers(): number {
  return liveChildren.size;
}

/** $NATS_SERVER_BIN, then nats-server on $PATH, then /usr/sbin/nats-server (Debian's package). */
export function natsServerBin(): string {
  return serverBin('nats-server', 'NATS_SERVER_BIN', '/usr/sbin/nats-server');
}

/**
 * Calls `check` every 25 ms until it returns a value other than undefined/false, or fails after `timeoutMs` with
 * `what` and the last error `check` threw. The way tests wait for something that has no event.
 */
export async function pollUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`, { cause: lastErr });
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function portOf(url: string | undefined): number | undefined {
  if (!url) return undefined;
  const p = Number(new URL(url).port);
  return Number.isInteger(p) && p > 0 ? p : undefined;
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

interface Ports {
  client: number;
  monitor: number;
  cluster: number | undefined;
}

interface PortsFile {
  nats?: string[];
  monitoring?: string[];
  cluster?: string[];
}

class HarnessNatsServer implements NatsServer {
  readonly dir: string;
  readonly name: string;
  readonly #opts: StartNatsOptions;
  #ports: Ports | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #running = false;
  #pid = 0;
  #disposed = false;

  constructor(dir: string, opts: StartNatsOptions) {
    this.dir = dir;
    this.#opts = opts;
    this.name = opts.name ?? `duet-nats-${process.pid}-${++nameSeq}`;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  get port(): number {
    return this.#required().client;
  }
  get pid(): number {
    return this.#pid;
  }
  get monitorUrl(): string {
    return `http://127.0.0.1:${this.#required().monitor}`;
  }
  get clusterUrl(): string | undefined {
    const p = this.#ports?.cluster;
    return p === undefined ? undefined : `nats://127.0.0.1:${p}`;
  }
  get running(): boolean {
    return this.#running;
  }

  #required(): Ports {
    if (!this.#ports) throw new Error('nats-server has not started yet');
    return this.#ports;
  }

  #args(): string[] {
    const o = this.#opts;
    // After the first start the ports are pinned so restart() comes back where the clients expect it.
    const p = this.#ports;
    const args = ['-a', '127.0.0.1', '-p', String(p?.client ?? -1), '-m', String(p?.monitor ?? -1), '-n', this.name];
    args.push('--ports_file_dir', this.dir, '-l', join(this.dir, 'server.log'));
    if (o.jetstream) args.push('-js', '-sd', join(this.dir, 'js'));
    if (o.cluster) {
      const cport = p?.cluster ?? o.cluster.port;
      args.push('--cluster', `nats://127.0.0.1:${cport}`, '--cluster_name', o.cluster.name);
      if (o.cluster.routes.length > 0) args.push('--routes', o.cluster.routes.join(','));
    }
    if (o.args) args.push(...o.args);
    return args;
  }

  async start(): Promise<void> {
    if (this.#disposed) throw new Error(`nats-server ${this.name} was disposed`);
    if (this.#running) return;
    const timeoutMs = this.#opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    // A restart may race the old listener's teardown (or another process grabbing the port): retry until the deadline.
    for (;;) {
      const err = await this.#spawnOnce(deadline);
      if (err === undefined) return;
      if (Date.now() >= deadline || !/address already in use/i.test(err.message)) throw err;
    }
  }

  /** undefined when the server is up; the failure otherwise (the process is gone then). */
  async #spawnOnce(deadline: number): Promise<Error | undefined> {
    const args = this.#args();
    const env = this.#opts.env ? { ...process.env, ...this.#opts.env } : process.env;
    const child = spawn(natsServerBin(), args, { stdio: 'ignore', env });
    // Unref'd so a leaked server cannot keep the test process alive; the exit hook kills it.
    child.unref();
    hookExit();
    liveChildren.add(child);
    let exitInfo: string | undefined;
    this.#exited = new Promise<void>((resolve) => {
      const gone = (info: string): void => {
        exitInfo ??= info;
        liveChildren.delete(child);
        if (this.#child === child) this.#running = false;
        resolve();
      };
      child.once('exit', (code, signal) => gone(`exited with ${signal ?? code}`));
      child.once('error', (e) => gone(`failed to spawn: ${e.message}`));
    });
    this.#child = child;
    this.#pid = child.pid ?? 0;
    this.#running = true;
    const suffix = `_${child.pid}.ports`;
    try {
      const ports = await pollUntil(
        async () => {
          if (exitInfo !== undefined) throw new Error(exitInfo);
          const names = await readdir(this.dir);
          const file = names.find((n) => n.endsWith(suffix));
          if (!file) return undefined;
          const parsed = JSON.parse(await readFile(join(this.dir, file), 'utf8')) as PortsFile;
          const client = portOf(parsed.nats?.[0]);
          const monitor = portOf(parsed.monitoring?.[0]);
          if (client === undefined || monitor === undefined) return undefined;
          if (!(await tcpAccepts(client))) return undefined;
          return { client, monitor, cluster: portOf(parsed.cluster?.[0]) };
        },
        Math.max(0, deadline - Date.now()),
        `nats-server ${this.name} to accept clients`,
      );
      this.#ports = ports;
      return undefined;
    } catch (err) {
      await this.#terminate('SIGKILL');
      const tail = await this.logTail(15);
      const msg = err instanceof Error ? err.message : String(err);
      return new Error(`nats-server ${this.name} did not start (${args.join(' ')}): ${msg}\n${tail}`, { cause: err });
    }
  }

  async #terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child || !this.#running) return;
    child.kill(signal);
    // The timer is ref'd on purpose: the child is unref'd, so without it the test process could exit mid-wait.
    let timer: NodeJS.Timeout | undefined;
    const graceMs = signal === 'SIGKILL' ? EXIT_WAIT_MS : STOP_GRACE_MS;
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!timedOut) return;
    if (signal !== 'SIGKILL') return this.#terminate('SIGKILL');
    throw new Error(`nats-server ${this.name} (pid ${this.#pid}) did not exit after SIGKILL`);
  }

  stop(): Promise<void> {
    return this.#terminate('SIGTERM');
  }

  kill(): Promise<void> {
    return this.#terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async logTail(lines = 20): Promise<string> {
    try {
      const text = await readFile(join(this.dir, 'server.log'), 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no server log)';
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }
}

/** Starts one nats-server on free loopback ports and resolves once it accepts clients. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'duet-nats-'));
  liveDirs.add(dir);
  hookExit();
  const server = new HarnessNatsServer(dir, opts);
  try {
    await server.start();
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
  return server;
}

interface Routez {
  num_routes?: number;
}
interface Jsz {
  meta_cluster?: { leader?: string };
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (await res.json()) as T;
}

class HarnessNatsCluster implements NatsCluster {
  readonly servers: NatsServer[];
  readonly #jetstream: boolean;

  constructor(servers: NatsServer[], jetstream: boolean) {
    this.servers = servers;
    this.#jetstream = jetstream;
  }

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  async waitFormed(timeoutMs = DEFAULT_FORM_TIMEOUT_MS): Promise<void> {
    await pollUntil(
      async () => {
        const up = this.servers.filter((s) => s.running);
        for (const s of up) {
          const r = await getJson<Routez>(`${s.monitorUrl}/routez`);
          if ((r.num_routes ?? 0) < up.length - 1) return false;
          if (this.#jetstream) {
            const j = await getJson<Jsz>(`${s.monitorUrl}/jsz`);
            if (!j.meta_cluster?.leader) return false;
          }
        }
        return true;
      },
      timeoutMs,
      `the nats cluster routes to form (${this.servers.map((s) => s.name).join(', ')})`,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.servers.map((s) => s[Symbol.asyncDispose]()));
  }
}

async function tryStartCluster(n: number, opts: StartNatsClusterOptions, name: string): Promise<NatsCluster> {
  // Route ports are fixed up front so every member can list every other one (JetStream clusters need routes at boot).
  const routePorts = await freePorts(n);
  const results = await Promise.allSettled(
    routePorts.map((port, i) =>
      startNats({
        jetstream: opts.jetstream,
        name: `${name}-${i}`,
        args: opts.args,
        startTimeoutMs: opts.startTimeoutMs,
        cluster: {
          name,
          port,
          routes: routePorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`),
        },
      }),
    ),
  );
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const cluster = new HarnessNatsCluster(servers, opts.jetstream === true);
  if (failed) {
    await cluster[Symbol.asyncDispose]();
    throw failed.reason;
  }
  try {
    await cluster.waitFormed(opts.formTimeoutMs);
  } catch (err) {
    await cluster[Symbol.asyncDispose]();
    throw err;
  }
  return cluster;
}

/**
 * Starts `n` routed nats-servers (full mesh of explicit routes, one cluster name) and resolves once the routes have
 * formed. Members can be killed and restarted individually; call waitFormed() again after a restart if needed.
 */
export async function startNatsCluster(n = 3, opts: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  const name = opts.name ?? `duet-${process.pid}-c${++nameSeq}`;
  try {
    return await tryStartCluster(n, opts, name);
  } catch (err) {
    // One retry: a route port picked by freePorts() can be taken by another process before the server binds it.
    if (err instanceof Error && /address already in use/i.test(err.message)) return tryStartCluster(n, opts, name);
    throw err;
  }
}
