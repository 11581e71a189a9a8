import { ClosedError, DuetError, ErrorCode } from '../../errors.js';

interface Letter {
  work: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * An actor's mailbox: one letter at a time, and the next starts only after the previous one settled (also when it
 * awaits), so the actor's state is never seen half-updated. Bounded: a post beyond `capacity` waiting letters is
 * refused with DUET_ERR_MAILBOX_FULL instead of growing memory.
 */
export class Mailbox {
  readonly capacity: number;
  readonly #queue: Letter[] = [];
  #running = false;
  #closed = false;
  #idle: (() => void)[] = [];
  readonly #what: string;

  constructor(capacity: number, what: string) {
    this.capacity = capacity;
    this.#what = what;
  }

  /** Letters waiting, not counting the one running. */
  get size(): number {
    return this.#queue.length;
  }

  get busy(): boolean {
    return this.#running || this.#queue.length > 0;
  }

  /** Runs `work` after every letter posted before it; resolves with its result. */
  post<T>(work: () => T | Promise<T>): Promise<Awaited<T>> {
    if (this.#closed) return Promise.reject(new ClosedError(`${this.#what} is stopped`));
    if (this.#queue.length >= this.capacity)
      return Promise.reject(
        new DuetError(ErrorCode.MAILBOX_FULL, `${this.#what}: mailbox full (${this.capacity} messages waiting)`),
      );
    return new Promise<Awaited<T>>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    for (let l = this.#queue.shift(); l; l = this.#queue.shift()) {
      try {
        l.resolve(await l.work());
      } catch (err) {
        l.reject(err);
      }
    }
    this.#running = false;
    for (const f of this.#idle.splice(0)) f();
  }

  /** Refuses new letters; resolves once those already posted have run. */
  close(): Promise<void> {
    this.#closed = true;
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /** Runs `work` after the letters already posted, even when closed (the actor's own destroy step). */
  last(work: () => unknown): Promise<void> {
    const run = async (): Promise<void> => {
      await work();
    };
    if (!this.busy) return run();
    return new Promise<void>((r) => this.#idle.push(r)).then(run);
  }
}
