import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

/** A helper process of the bench (echo servers, pass-through, pinus), stopped by pid. */
export interface BenchProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
/** Grandchildren we know of (pinus's servers): killed with the rest if the runner exits early. */
const adopted = new Set<number>();
/** Temp dirs removed when the runner exits, however it exits. */
const tempDirs = new Set<string>();
process.on('exit', killAllSpawned);

export function killAllSpawned(): void {
  for (const c of live) c.kill('SIGKILL');
  for (const pid of adopted) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

export function tempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

/** Also kill `pid` when the runner exits (processes a child spawned on its own). */
export function adopt(pid: number): void {
  adopted.add(pid);
}

export function release(pid: number): void {
  adopted.delete(pid);
}

/** Spawns `cmd args` and resolves once its output matches `ready`. */
export async function spawnReady(
  cmd: string,
  args: string[],
  ready: RegExp,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<BenchProcess & { match: RegExpMatchArray }> {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      live.delete(child);
      r();
    }),
  );
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} not ready within ${opts.timeoutMs ?? 30_000} ms:\n${out}`));
    }, opts.timeoutMs ?? 30_000);
    const check = (): void => {
      const m = out.match(ready);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(`${cmd} ${args.join(' ')} exited before ready:\n${out}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
  return {
    pid: child.pid as number,
    child,
    match,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** node with tsx, for the bench's own TypeScript helpers. */
export function tsNode(script: string, args: string[] = [], extraExecArgv: string[] = []): [string, string[]] {
  return [process.execPath, [...extraExecArgv, '--import', 'tsx', script, ...args]];
}
