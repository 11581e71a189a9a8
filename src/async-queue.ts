/**
 * An unbounded push → pull queue exposed as an AsyncIterable: producers push synchronously, one consumer pulls.
 * A `break` out of `for await` ends it (return() runs `onEnd`), and a second iteration is refused.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #ended = false;
  #iterated = false;
  readonly #onEnd: (() => void) | undefined;

  constructor(onEnd?: () => void) {
    this.#onEnd = onEnd;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** false once ended: the item is dropped. */
  push(item: T): boolean {
    if (this.#ended) return false;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w({ value: item, done: false });
    } else this.#items.push(item);
    return true;
  }

  /** Ends after the items already queued have been read. Safe to call twice. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const w = this.#waiter;
    if (w && this.size === 0) {
      this.#waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  #next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head] as T;
      this.#items[this.#head] = undefined as T;
      this.#head++;
      // Compact now and then so a long-lived queue does not keep its whole history.
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#iterated) throw new Error('this stream can be iterated only once');
    this.#iterated = true;
    return {
      next: () => this.#next(),
      return: () => {
        this.#items = [];
        this.#head = 0;
        this.end();
        this.#onEnd?.();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
