/**
 * Delivers `handler.closed` in time slices (issue 20 case 8). When thousands of sockets drop at once (a load
 * balancer restart, a client fleet losing its network), Node reports every close in one pass of its event loop;
 * running each session's close there (its state machine, its disconnect event to the nodes) stalled every other
 * session for more than a second with 15,000 closes. Here a close only joins a queue, and the queue is worked
 * through at most `sliceMs` per turn, with I/O (other sessions' frames) served between turns.
 */

export const DEFAULT_CLOSE_SLICE_MS = 5;

export class CloseQueue {
  readonly #sliceMs: number;
  readonly #reportError: (err: unknown) => void;
  readonly #queue: Array<() => void> = [];
  /** Index of the next job: shifting a 15k array per job would be quadratic. */
  #head = 0;
  #scheduled: NodeJS.Immediate | undefined;

  constructor(reportError: (err: unknown) => void, sliceMs = DEFAULT_CLOSE_SLICE_MS) {
    this.#reportError = reportError;
    this.#sliceMs = sliceMs;
  }

  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** Runs `job` soon, in order with the other closes. */
  push(job: () => void): void {
    this.#queue.push(job);
    this.#scheduled ??= setImmediate(this.#drainSlice);
  }

  /** Runs everything still queued now (transport close: every handler.closed has run when it resolves). */
  flush(): void {
    clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    while (this.#head < this.#queue.length) this.#run();
    this.#reset();
  }

  #drainSlice = (): void => {
    this.#scheduled = undefined;
    const until = performance.now() + this.#sliceMs;
    // check the clock every few jobs: one close is tens of microseconds, performance.now() is not free
    while (this.#head < this.#queue.length) {
      for (let i = 0; i < 16 && this.#head < this.#queue.length; i++) this.#run();
      if (performance.now() >= until) break;
    }
    if (this.#head < this.#queue.length) this.#scheduled = setImmediate(this.#drainSlice);
    else this.#reset();
  };

  #run(): void {
    const job = this.#queue[this.#head] as () => void;
    this.#queue[this.#head] = noop; // release the connection for GC now, not when the whole queue is done
    this.#head++;
    try {
      job();
    } catch (err) {
      this.#reportError(err);
    }
  }

  #reset(): void {
    this.#queue.length = 0;
    this.#head = 0;
  }
}

function noop(): void {}
