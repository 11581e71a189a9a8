import { TimeoutError } from '../../errors.js';

/**
 * One call being served. Its AbortSignal, and the deadline timer behind it, exist only once the method reads
 * `call.signal`: most methods never do, and a timer per call is a large share of a short call's cost.
 */
export class ServedCall {
  readonly deadline: number;
  readonly #what: string;
  #ac: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reason: unknown;

  constructor(deadline: number, what: string) {
    this.deadline = deadline;
    this.#what = what;
  }

  get signal(): AbortSignal {
    if (!this.#ac) {
      this.#ac = new AbortController();
      const left = this.deadline - Date.now();
      if (this.#reason !== undefined) this.#ac.abort(this.#reason);
      else if (left <= 0) this.abort(this.#timeout());
      else this.#timer = setTimeout(() => this.abort(this.#timeout()), left);
    }
    return this.#ac.signal;
  }

  #timeout(): TimeoutError {
    return new TimeoutError(`${this.#what}: the caller's deadline passed`);
  }

  /** Aborts the signal (now, or when it is first read). The first reason wins. */
  abort(reason: unknown): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    clearTimeout(this.#timer);
    this.#ac?.abort(reason);
  }

  /** The method settled: drop the timer. */
  done(): void {
    clearTimeout(this.#timer);
  }
}
