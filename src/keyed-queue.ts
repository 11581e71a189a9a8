/** One unit of work; a returned promise holds the key's later tasks until it settles. */
export type KeyedTask = () => unknown;

export interface KeyedQueueOptions<K> {
  /** A task threw or its promise rejected. The key's later tasks still run: one failure never stalls a key. */
  onError(err: unknown, key: K): void;
  /** Most tasks that may wait behind one key's running task; `run` refuses more (returns false). 0 = no bound. */
  maxDepth?: number;
}

/** The tasks waiting behind one key's running task (a head index, so a long backlog drains in linear time). */
interface Lane {
  items: (KeyedTask | undefined)[];
  head: number;
}

/**
 * Runs tasks in order per key and concurrently across keys: a task runs at once (synchronously) when nothing of its
 * key is pending, otherwise after every earlier task of that key has settled. A key costs memory only while it has
 * a pending task: its entry is dropped the moment it drains. Used wherever something must stay "in order per
 * connection / per session" without making unrelated ones wait (the node's per-connection order, the gate's
 * operation path).
 */
export class KeyedQueue<K> {
  readonly #lanes = new Map<K, Lane>();
  readonly #onError: (err: unknown, key: K) => void;
  readonly #maxDepth: number;
  #waiting = 0;
  #refused = 0;
  #idle: (() => void)[] = [];

  constructor(o: KeyedQueueOptions<K>) {
    this.#onError = o.onError;
    this.#maxDepth = o.maxDepth ?? 0;
  }

  /** Keys with a pending task. */
  get size(): number {
    return this.#lanes.size;
  }

  /** Tasks waiting (not yet started) across all keys. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Tasks refused so far because their key was `maxDepth` deep. */
  get refused(): number {
    return this.#refused;
  }

  /** Tasks of `key` not yet settled: the running one plus those waiting behind it (0 = idle). */
  depth(key: K): number {
    const lane = this.#lanes.get(key);
    return lane ? 1 + lane.items.length - lane.head : 0;
  }

  isBusy(key: K): boolean {
    return this.#lanes.has(key);
  }

  /**
   * Runs `task` now if `key` is idle, else queues it behind the key's pending tasks. Returns false (the task is
   * dropped, counted in `refused`) only when the key already has `maxDepth` tasks waiting.
   */
  run(key: K, task: KeyedTask): boolean {
    const lane = this.#lanes.get(key);
    if (lane) {
      if (this.#maxDepth > 0 && lane.items.length - lane.head >= this.#maxDepth) {
        this.#refused++;
        return false;
      }
      lane.items.push(task);
      this.#waiting++;
      return true;
    }
    // Marked busy while it runs, so a task that queues more work on its own key (synchronously) runs that after it.
    const own: Lane = { items: [], head: 0 };
    this.#lanes.set(key, own);
    this.#continue(key, own, this.#call(key, task));
    return true;
  }

  /**
   * For a caller that ran a task of `key` itself (a fast path that skips `run` while no key is busy) and got a
   * promise: the key's later tasks wait for it, exactly as if it had gone through `run`.
   */
  hold(key: K, pending: PromiseLike<unknown>): void {
    if (this.#lanes.has(key)) {
      this.run(key, () => pending);
      return;
    }
    const own: Lane = { items: [], head: 0 };
    this.#lanes.set(key, own);
    this.#continue(key, own, pending);
  }

  /** Resolves once no key has a pending task. */
  idle(): Promise<void> {
    if (this.#lanes.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Runs one task; a synchronous throw is reported here, a promise is returned for the lane to wait on. */
  #call(key: K, task: KeyedTask): PromiseLike<unknown> | undefined {
    try {
      const r = task();
      return isThenable(r) ? r : undefined;
    } catch (err) {
      this.#report(err, key);
      return undefined;
    }
  }

  /** An `onError` that throws must not stall the key: its error is rethrown on its own (surfaced as uncaught). */
  #report(err: unknown, key: K): void {
    try {
      this.#onError(err, key);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  /** Runs the lane's next tasks, synchronously while they are, until one is pending or the lane is empty. */
  #continue(key: K, lane: Lane, pending: PromiseLike<unknown> | undefined): void {
    let p = pending;
    for (;;) {
      if (p) {
        p.then(
          () => this.#continue(key, lane, undefined),
          (err: unknown) => {
            this.#report(err, key);
            this.#continue(key, lane, undefined);
          },
        );
        return;
      }
      if (lane.head >= lane.items.length) break;
      const next = lane.items[lane.head] as KeyedTask;
      lane.items[lane.head] = undefined;
      lane.head++;
      this.#waiting--;
      p = this.#call(key, next);
    }
    this.#lanes.delete(key);
    if (this.#lanes.size === 0 && this.#idle.length > 0) for (const f of this.#idle.splice(0)) f();
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}
