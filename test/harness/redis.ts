import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { serverBin } from './server-bin.js';

const execFileP = promisify(execFile);

/**
 * Real redis-server processes for tests (docs/contributing.md): each binds 127.0.0.1 on a free port (listen(0),
 * release, retry on EADDRINUSE since another process may take the port in between), persists nothing
 * (`--save "" --appendonly no`), works in its own temp dir, and is stopped by pid. Every process started here is
 * SIGKILLed when the test process exits, so a forgotten server cannot outlive the test run.
 */

/** PEM files for a TLS-only server (`--port 0 --tls-port P`, clients must present a certificate signed by caFile). */
export interface RedisTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface StartRedisOptions {
  /** Serve TLS only on the chosen port; the readiness PING then goes over TLS with the same files. */
  tls?: RedisTlsFiles;
  /** Extra redis-server arguments, appended last (`--requirepass x`, `--cluster-enabled yes`...). */
  args?: string[];
  /** How long start/restart may take before failing. Default 10 s. */
  startTimeoutMs?: number;
}

export interface RedisServer extends AsyncDisposable {
  readonly host: string;
  /** The same after restart(). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, the form due's `locate.redis.addrs` takes. */
  readonly addr: string;
  /** The current process id (changes on restart()). */
  readonly pid: number;
  readonly running: boolean;
  /** SIGTERM, wait for exit, SIGKILL after 3 s. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL (an abrupt outage); resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops the server if running, then starts a fresh one (empty data) on the same port. */
  restart(): Promise<void>;
  /** The last lines redis-server printed, for assertion messages. */
  logTail(lines?: number): string;
  /** stop() and remove the temp dir. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const EXIT_WAIT_MS = 5_000;
const POLL_MS = 20;
const LOG_KEEP_CHARS = 8_192;

// Process-wide record of what the harness started, so the exit hook can kill leftovers. Test-only state.
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
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
  });
}

/** How many redis-server processes this test process still has running. */
export function liveRedisServers(): number {
  return liveChildren.size;
}

/** $REDIS_SERVER_BIN, then redis-server on $PATH, then /usr/bin/redis-server (Debian's package). */
export function redisServerBin(): string {
  return serverBin('redis-server', 'REDIS_SERVER_BIN', '/usr/bin/redis-server');
}

/** Sends an inline PING on a raw socket: true on `+PONG` (no client library, so the harness tests nothing of ours). */
function ping(port: number, tls: RedisTlsFiles | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tls
      ? tlsConnect({
          host: HOST,
          port,
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          ca: readFileSync(tls.caFile),
        })
      : netConnect({ host: HOST, port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once(tls ? 'secureConnect' : 'connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.once('error', () => done(false));
  });
}

class HarnessRedisServer implements RedisServer {
  readonly host = HOST;
  readonly dir: string;
  readonly #opts: StartRedisOptions;
  #port = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #running = false;
  #pid = 0;
  #log = '';
  #disposed = false;

  constructor(dir: string, opts: StartRedisOptions) {
    this.dir = dir;
    this.#opts = opts;
  }

  get port(): number {
    return this.#port;
  }
  get url(): string {
    return `redis://${HOST}:${this.#port}`;
  }
  get addr(): string {
    return `${HOST}:${this.#port}`;
  }
  get pid(): number {
    return this.#pid;
  }
  get running(): boolean {
    return this.#running;
  }

  logTail(lines = 20): string {
    return this.#log.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** First start: a fresh free port per attempt. Restart: the same port, retried until the deadline. */
  async start(): Promise<void> {
    if (this.#disposed) throw new Error('redis-server harness was disposed');
    if (this.#running) return;
    const pinned = this.#port !== 0;
    const deadline = Date.now() + (this.#opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    for (;;) {
      const port = pinned ? this.#port : await freePort(HOST);
      const err = await this.#spawnOnce(port, deadline);
      if (err === undefined) {
        this.#port = port;
        return;
      }
      if (Date.now() >= deadline || !/address already in use/i.test(err.message)) throw err;
      if (pinned) await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #spawnOnce(port: number, deadline: number): Promise<Error | undefined> {
    const tls = this.#opts.tls;
    const args = tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile]
      : ['--port', String(port)];
    if (tls) args.push('--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'yes');
    args.push('--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', this.dir);
    args.push('--daemonize', 'no', '--loglevel', 'notice');
    if (this.#opts.args) args.push(...this.#opts.args);
    this.#log = '';
    const child = spawn(redisServerBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Unref'd so a leaked server cannot keep the test process alive; the exit hook kills it.
    child.unref();
    hookExit();
    liveChildren.add(child);
    const keep = (d: Buffer): void => {
      this.#log = (this.#log + d.toString('utf8')).slice(-LOG_KEEP_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // The pipes must not hold the event loop open either.
    if (child.stdout instanceof Socket) child.stdout.unref();
    if (child.stderr instanceof Socket) child.stderr.unref();
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
    for (;;) {
      if (exitInfo !== undefined) {
        return new Error(`redis-server on port ${port} ${exitInfo}: ${this.logTail(5)}`);
      }
      if (await ping(port, this.#opts.tls)) return undefined;
      if (Date.now() >= deadline) {
        await this.#terminate('SIGKILL');
        return new Error(`redis-server on port ${port} did not answer PING in time: ${this.logTail(10)}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async #terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child || !this.#running) return;
    process.kill(this.#pid, signal);
    // Ref'd on purpose: the child is unref'd, so without it the test process could exit mid-wait.
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
    throw new Error(`redis-server (pid ${this.#pid}) did not exit after SIGKILL`);
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

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }
}

/** Starts one redis-server on a free loopback port and resolves once it answers PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'duet-redis-'));
  liveDirs.add(dir);
  hookExit();
  const server = new HarnessRedisServer(dir, opts);
  try {
    await server.start();
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
  return server;
}

export interface RedisCluster extends AsyncDisposable {
  readonly servers: RedisServer[];
  /** `127.0.0.1:<port>` of every master, the form `locate.redis.addrs` takes. */
  readonly addrs: string[];
}

/** `$REDIS_CLI_BIN`, or redis-cli beside redis-server (Debian ships both in redis-tools/redis-server). */
function redisCliBin(): string {
  return process.env.REDIS_CLI_BIN ?? join(redisServerBin(), '..', 'redis-cli');
}

async function clusterStateOk(port: number): Promise<boolean> {
  const { stdout } = await execFileP(redisCliBin(), ['-h', HOST, '-p', String(port), 'cluster', 'info'], {
    timeout: 2_000,
  });
  return /^cluster_state:ok\r?$/m.test(stdout);
}

/**
 * A Redis Cluster of `masters` masters (no replicas) on free loopback ports, each with its own cluster bus port
 * (`--cluster-port`, since port+10000 may not exist), slots spread by `redis-cli --cluster create`. Resolves when
 * every member reports cluster_state:ok.
 */
export async function startRedisCluster(masters = 3, timeoutMs = 20_000): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  const disposeAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort(HOST);
      const args = [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-port',
        String(busPort),
      ];
      // Survivors keep serving their own slots when a member dies (tests kill members on purpose).
      args.push('--cluster-node-timeout', '5000', '--cluster-require-full-coverage', 'no');
      servers.push(await startRedis({ args }));
    }
    const addrs = servers.map((s) => s.addr);
    await execFileP(redisCliBin(), ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: timeoutMs,
    });
    const deadline = Date.now() + timeoutMs;
    for (const s of servers) {
      while (!(await clusterStateOk(s.port).catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`redis cluster on ${addrs.join(',')} did not reach state ok`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return { servers, addrs, [Symbol.asyncDispose]: disposeAll };
  } catch (err) {
    await disposeAll();
    throw err;
  }
}

/**
 * A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl CLI, EC P-256, valid 1 day), written to a
 * temp dir removed on dispose. The certificate serves as both server and client certificate.
 */
export async function makeTestCerts(): Promise<RedisTlsFiles & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'duet-certs-'));
  liveDirs.add(dir);
  hookExit();
  const f = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (args: string[]) => execFileP('openssl', args, { timeout: 10_000 });
  await run(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=duet-ca']);
  await run(['req', ...ec, '-keyout', f('redis.key'), '-out', f('redis.csr'), '-subj', '/CN=127.0.0.1']);
  // DNS:localhost too: nats.js checks a server reached by IP address against the name localhost.
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run([
    'x509',
    '-req',
    '-in',
    f('redis.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('redis.crt'),
    '-days',
    '1',
    '-extfile',
    f('ext.cnf'),
  ]);
  return {
    certFile: f('redis.crt'),
    keyFile: f('redis.key'),
    caFile: f('ca.crt'),
    [Symbol.asyncDispose]: async () => {
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
}
