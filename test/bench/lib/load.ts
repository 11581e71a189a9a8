import { type ChildProcess, fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Histogram } from './histogram.js';
import type { LoginResult, WorkerCommand, WorkerReply, WorkerResult, WorkerSpec } from './load-protocol.js';

const WORKER = fileURLToPath(new URL('../load-worker.ts', import.meta.url));
/** Sockets per worker process: below the 20,000 open files a process may have here. */
export const MAX_CONNS_PER_WORKER = 15_000;

export const epochNow = (): number => performance.timeOrigin + performance.now();

class Worker {
  readonly child: ChildProcess;
  readonly #waiters: ((m: WorkerReply) => boolean)[] = [];
  exitCode: number | null | undefined;

  constructor() {
    this.child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: WorkerReply) => {
      const i = this.#waiters.findIndex((w) => w(m));
      if (i >= 0) this.#waiters.splice(i, 1);
    });
    this.child.on('exit', (code) => {
      this.exitCode = code;
    });
  }

  send(c: WorkerCommand): void {
    this.child.send(c);
  }

  next<T extends WorkerReply['type']>(type: T, timeoutMs: number): Promise<Extract<WorkerReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load worker: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`load worker exited (${code}) while waiting for '${type}'`));
      };
      this.child.once('exit', onExit);
      this.#waiters.push((m) => {
        if (m.type !== type) return false;
        clearTimeout(timer);
        this.child.off('exit', onExit);
        resolve(m as Extract<WorkerReply, { type: T }>);
        return true;
      });
    });
  }
}

export interface RunResult {
  hist: Histogram;
  completed: number;
  sent: number;
  errors: number;
  lost: number;
  closed: number;
  /** completed / window seconds */
  rate: number;
  measureMs: number;
  /** keepSamples: every answered request's scheduled epoch ms and latency ms, all workers. */
  samples: { atEpoch: number[]; ms: number[] };
}

export interface LoginStorm {
  hist: Histogram;
  ok: number;
  failed: number;
  firstSendEpoch: number;
  lastAnswerEpoch: number;
}

export interface WindowHooks {
  /** Called when the measured window opens and closes (CPU snapshots). */
  onOpen?(): void;
  onClose?(): void;
}

/** A set of load workers sharing one target; sockets are spread evenly. */
export class LoadGroup {
  readonly #workers: Worker[];
  readonly opened: number;
  readonly failed: number;

  private constructor(workers: Worker[], opened: number, failed: number) {
    this.#workers = workers;
    this.opened = opened;
    this.failed = failed;
  }

  static async open(spec: Omit<WorkerSpec, 'conns'>, conns: number, minWorkers = 1): Promise<LoadGroup> {
    const n = Math.max(minWorkers, Math.ceil(conns / MAX_CONNS_PER_WORKER));
    const workers: Worker[] = [];
    try {
      const readies: Promise<{ opened: number; failed: number }>[] = [];
      for (let i = 0; i < n; i++) {
        const w = new Worker();
        workers.push(w);
        const share = Math.floor(conns / n) + (i < conns % n ? 1 : 0);
        readies.push(w.next('ready', 90_000));
        w.send({ type: 'setup', spec: { ...spec, conns: share } });
      }
      const r = await Promise.all(readies);
      const opened = r.reduce((a, x) => a + x.opened, 0);
      const failed = r.reduce((a, x) => a + x.failed, 0);
      return new LoadGroup(workers, opened, failed);
    } catch (err) {
      for (const w of workers) w.child.kill('SIGKILL');
      throw err;
    }
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.child.pid as number);
  }

  /** Runs the closed/open loop: warm-up, then the measured window. */
  async run(warmupMs: number, measureMs: number, hooks: WindowHooks = {}): Promise<RunResult> {
    const from = epochNow() + warmupMs;
    const to = from + measureMs;
    const results = this.#workers.map((w) => w.next('result', warmupMs + measureMs + 15_000));
    for (const w of this.#workers) w.send({ type: 'run', measureFromEpoch: from, measureToEpoch: to });
    const t1 = setTimeout(() => hooks.onOpen?.(), Math.max(0, from - epochNow()));
    const t2 = setTimeout(() => hooks.onClose?.(), Math.max(0, to - epochNow()));
    let rs: WorkerResult[];
    try {
      rs = await Promise.all(results);
    } finally {
      clearTimeout(t1);
      clearTimeout(t2);
    }
    const hist = new Histogram();
    let completed = 0;
    let sent = 0;
    let errors = 0;
    let lost = 0;
    let closed = 0;
    const samples = { atEpoch: [] as number[], ms: [] as number[] };
    for (const r of rs) {
      // a loop, not push(...xs): a long window holds more samples than a call may take arguments
      for (let i = 0; i < (r.samples?.atEpoch.length ?? 0); i++) {
        samples.atEpoch.push(r.samples?.atEpoch[i] as number);
        samples.ms.push(r.samples?.ms[i] as number);
      }
      hist.add(r.hist);
      completed += r.completed;
      sent += r.sent;
      errors += r.errors;
      lost += r.lost;
      closed += r.closed;
    }
    return { hist, completed, sent, errors, lost, closed, rate: completed / (measureMs / 1000), measureMs, samples };
  }

  /** login mode: every socket of every worker logs in at once; resolves when all are answered or timed out. */
  async login(uidOffset: number, timeoutMs: number): Promise<LoginStorm> {
    const replies = this.#workers.map((w) => w.next('logins', timeoutMs + 10_000));
    for (const w of this.#workers) w.send({ type: 'login', uidOffset, timeoutMs });
    const rs: LoginResult[] = await Promise.all(replies);
    const hist = new Histogram();
    for (const r of rs) hist.add(r.hist);
    return {
      hist,
      ok: rs.reduce((a, r) => a + r.ok, 0),
      failed: rs.reduce((a, r) => a + r.failed, 0),
      firstSendEpoch: Math.min(...rs.map((r) => r.firstSendEpoch)),
      lastAnswerEpoch: Math.max(...rs.map((r) => r.lastAnswerEpoch)),
    };
  }

  idle(): void {
    for (const w of this.#workers) w.send({ type: 'idle' });
  }

  async trigger(route: number, body: Uint8Array): Promise<number> {
    const w = this.#workers[0] as Worker;
    const p = w.next('triggered', 10_000);
    w.send({ type: 'trigger', route, body });
    return (await p).atEpoch;
  }

  async count(): Promise<{ pushes: number; lastPushEpoch: number; open: number }> {
    const rs = await Promise.all(
      this.#workers.map((w) => {
        const p = w.next('count', 10_000);
        w.send({ type: 'count' });
        return p;
      }),
    );
    return {
      pushes: rs.reduce((a, r) => a + r.pushes, 0),
      lastPushEpoch: Math.max(...rs.map((r) => r.lastPushEpoch)),
      open: rs.reduce((a, r) => a + r.open, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== undefined) return resolve();
            const timer = setTimeout(() => w.child.kill('SIGKILL'), 5000);
            w.child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            w.send({ type: 'close' });
          }),
      ),
    );
  }
}
