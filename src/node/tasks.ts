import { errorMessage } from '../errors.js';
import { settleWithin } from '../lifecycle.js';
import type { Log } from '../log/types.js';

/**
 * Detached work started from a handler (due ctx.Task): it runs outside the connection's order, its failure is
 * logged and counted, and a graceful stop waits for it (up to the stop deadline).
 */
export class Tasks {
  readonly #running = new Set<Promise<void>>();
  readonly #log: Log;
  #refused = false;
  failed = 0;
  /** Tasks refused because the node was already stopping. */
  refused = 0;

  constructor(log: Log) {
    this.#log = log;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Starts `fn` now; false (and a warning) when the node is stopping. */
  run(fn: () => unknown): boolean {
    if (this.#refused) {
      this.refused++;
      this.#log.warn('task refused: the node is stopping');
      return false;
    }
    const p = (async () => {
      await fn();
    })()
      .catch((err: unknown) => {
        this.failed++;
        this.#log.error('task failed', { err: errorMessage(err) });
      })
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
    return true;
  }

  /** Refuses new tasks; waits up to `deadlineMs` for running ones. */
  async stop(deadlineMs: number): Promise<void> {
    this.#refused = true;
    if (this.#running.size > 0) await settleWithin(Promise.all(this.#running), deadlineMs);
  }
}
