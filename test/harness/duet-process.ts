import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/duet.js', import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface DuetProcess extends AsyncDisposable {
  readonly pid: number;
  /** Everything printed so far (stdout and stderr). */
  readonly output: string;
  /** The ws:// URL a gate printed at start-up. */
  readonly url: string | undefined;
  /** The node id a node printed at start-up. */
  readonly nodeId: string | undefined;
  readonly gateId: string | undefined;
  readonly running: boolean;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM (graceful), resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL, resolves when gone. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** Spawns `duet <args>` as its own process and waits for its start-up line. */
export async function startDuet(
  args: string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    readyTimeoutMs?: number /** Another duet CLI (an installed package's). */;
    bin?: string;
  } = {},
): Promise<DuetProcess> {
  const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer): void => {
    output += d.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      for (const w of waiters) w();
      resolve(code);
    });
  });
  const waitFor = (pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = output.match(pattern);
        if (m) {
          done();
          resolve(m);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(
            new Error(
              `duet ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${output}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${pattern} from duet ${args.join(' ')}:\n${output}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const ready = await waitFor(/^duet (dev|gate|node|mesh): (.*)$/m, opts.readyTimeoutMs ?? 20_000);
  const line = ready[2] ?? '';
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return {
    pid: child.pid as number,
    get output() {
      return output;
    },
    url: line.match(/listening on (ws\S+)/)?.[1],
    nodeId: line.match(/(?:node|mesh) \S+ (\S+) (?:\(codec|services)/)?.[1],
    gateId: line.match(/gate \S+ (\S+) listening/)?.[1],
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    waitFor,
    stop,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    exited,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
