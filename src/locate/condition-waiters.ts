import { addAbortListener } from 'node:events';

/**
 * Promises that wait for a condition on connection state (connected, subscribed), re-checked on every notify(),
 * bounded by a deadline and an optional AbortSignal. Each waiter clears its timer and abort listener when it ends.
 */
export class ConditionWaiters {
  readonly #checks = new Set<() => void>();

  /**
   * Resolves when `cond()` holds; rejects with `failure()` as soon as it returns an error (e.g. closed), with
   * `onTimeout()` after `ms`, or with the signal's reason.
   */
  wait(
    cond: () => boolean,
    ms: number,
    signal: AbortSignal | undefined,
    onTimeout: () => Error,
    failure: () => Error | undefined = () => undefined,
  ): Promise<void> {
    const failed = failure();
    if (failed) return Promise.reject(failed);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: unknown): void => {
        clearTimeout(timer);
        this.#checks.delete(check);
        stopAbort?.[Symbol.dispose]();
        if (err === undefined) resolve();
        else reject(err);
      };
      const check = (): void => {
        const err = failure();
        if (err) finish(err);
        else if (cond()) finish();
      };
      const timer = setTimeout(() => finish(onTimeout()), ms);
      this.#checks.add(check);
      const stopAbort = signal ? addAbortListener(signal, () => finish(signal.reason)) : undefined;
    });
  }

  /** Re-checks every waiter; call it on each state change. */
  notify(): void {
    for (const check of [...this.#checks]) check();
  }
}

/** Rejects with the signal's reason as soon as it aborts; the work itself runs on (it may be shared). */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  let stop: Disposable | undefined;
  const aborted = new Promise<never>((_, reject) => {
    stop = addAbortListener(signal, () => reject(signal.reason));
  });
  return Promise.race([work, aborted]).finally(() => stop?.[Symbol.dispose]());
}
