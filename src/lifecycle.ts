import { TimeoutError } from './errors.js';

export type ServiceRunState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped';

export interface StopOptions {
  graceful?: boolean;
  deadlineMs?: number;
}

/** A gate or node: start undoes itself on failure; stop is safe to call twice and shares one promise. */
export interface Service extends AsyncDisposable {
  readonly state: ServiceRunState;
  start(signal?: AbortSignal): Promise<void>;
  stop(opts?: StopOptions): Promise<void>;
}

export type CleanupStep = () => unknown;

/** A LIFO stack of undo steps (Node 20 lacks AsyncDisposableStack). Errors are collected, every step runs. */
export class Cleanup {
  #steps: CleanupStep[] = [];

  defer(step: CleanupStep): void {
    this.#steps.push(step);
  }

  async run(): Promise<Error[]> {
    const errors: Error[] = [];
    while (this.#steps.length > 0) {
      const step = this.#steps.pop() as CleanupStep;
      try {
        await step();
      } catch (err) {
        errors.push(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return errors;
  }
}

/** Races `work` against a deadline; the TimeoutError is created now so its stack shows the caller. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  const err = new TimeoutError(`${what} did not finish within ${ms} ms`);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(err), ms);
    timer.unref?.();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Waits for `work` or `ms`, whichever comes first, without rejecting (drain deadlines); clears its timer. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
