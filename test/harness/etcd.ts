import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './free-port.js';
import { serverBin } from './server-bin.js';

/**
 * Real etcd processes for tests (like nats.ts and redis.ts): each binds 127.0.0.1 on two free ports (client and
 * peer; retried on EADDRINUSE since another process may take a port in between), keeps its data in its own temp
 * dir, and is stopped by pid. Every process started here is SIGKILLed when the test process exits.
 */

export interface EtcdServer extends AsyncDisposable {
  /** `127.0.0.1:<port>`, the form due's `registry.etcd.addrs` takes; the same after restart(). */
  readonly addr: string;
  readonly port: number;
  readonly pid: number;
  readonly running: boolean;
  /** SIGTERM, wait for exit, SIGKILL after 3 s. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL (an abrupt outage); resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts again on the same ports; `wipe` first deletes the data (a replaced server: no keys, no leases). */
  restart(opts?: { wipe?: boolean }): Promise<void>;
  logTail(lines?: number): string;
  /** stop() and remove the temp dir. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const LOG_KEEP_CHARS = 8_192;

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
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** $ETCD_BIN, then etcd on $PATH, then /usr/bin/etcd (Debian's etcd-server). */
export function etcdBin(): string {
  return serverBin('etcd', 'ETCD_BIN', '/usr/bin/etcd');
}

/** GET /health on the client port: true once etcd says it is healthy (raw HTTP, no client library). */
function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: HOST, port, path: '/health', timeout: 1_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString('utf8');
      });
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

class HarnessEtcd implements EtcdServer {
  readonly #dir: string;
  #port = 0;
  #peerPort = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #running = false;
  #pid = 0;
  #log = '';
  #run = 0;
  #disposed = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  get addr(): string {
    return `${HOST}:${this.#port}`;
  }
  get port(): number {
    return this.#port;
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

  async start(): Promise<void> {
    if (this.#disposed) throw new Error('etcd harness was disposed');
    if (this.#running) return;
    const pinned = this.#port !== 0;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (!pinned) [this.#port, this.#peerPort] = (await freePorts(2, HOST)) as [number, number];
      const err = await this.#spawnOnce(deadline);
      if (err === undefined) return;
      if (Date.now() >= deadline || !/address already in use/i.test(err.message)) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #spawnOnce(deadline: number): Promise<Error | undefined> {
    const client = `http://${HOST}:${this.#port}`;
    const peer = `http://${HOST}:${this.#peerPort}`;
    const args = ['--name', 'duet-test', '--data-dir', join(this.#dir, `data-${this.#run}`)];
    args.push('--listen-client-urls', client, '--advertise-client-urls', client);
    args.push('--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer);
    args.push('--initial-cluster', `duet-test=${peer}`, '--initial-cluster-state', 'new');
    args.push('--log-level', 'warn', '--logger', 'zap');
    this.#log = '';
    const child = spawn(etcdBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.unref();
    hookExit();
    liveChildren.add(child);
    const keep = (d: Buffer): void => {
      this.#log = (this.#log + d.toString('utf8')).slice(-LOG_KEEP_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
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
      if (exitInfo !== undefined) return new Error(`etcd on ${this.addr} ${exitInfo}: ${this.logTail(5)}`);
      if (await healthy(this.#port)) return undefined;
      if (Date.now() >= deadline) {
        await this.#terminate('SIGKILL');
        return new Error(`etcd on ${this.addr} was not healthy in time: ${this.logTail(10)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #terminate(signal: NodeJS.Signals): Promise<void> {
    if (!this.#child || !this.#running) return;
    process.kill(this.#pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!timedOut) return;
    if (signal !== 'SIGKILL') return this.#terminate('SIGKILL');
    throw new Error(`etcd (pid ${this.#pid}) did not exit after SIGKILL`);
  }

  stop(): Promise<void> {
    return this.#terminate('SIGTERM');
  }

  kill(): Promise<void> {
    return this.#terminate('SIGKILL');
  }

  async restart(opts: { wipe?: boolean } = {}): Promise<void> {
    await this.stop();
    if (opts.wipe) {
      await rm(join(this.#dir, `data-${this.#run}`), { recursive: true, force: true });
      this.#run++;
    }
    await this.start();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.stop();
    await rm(this.#dir, { recursive: true, force: true });
    liveDirs.delete(this.#dir);
  }
}

/** Starts one etcd on free loopback ports and resolves once /health says true. */
export async function startEtcd(): Promise<EtcdServer> {
  const dir = await mkdtemp(join(tmpdir(), 'duet-etcd-'));
  liveDirs.add(dir);
  hookExit();
  const server = new HarnessEtcd(dir);
  try {
    await server.start();
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
  return server;
}
