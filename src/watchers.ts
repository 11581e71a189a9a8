import { AsyncQueue } from './async-queue.js';

/** Fan-out of values to any number of AbortSignal-scoped watchers (memory locator and registry). */
export class Watchers<T> {
  readonly #queues = new Set<AsyncQueue<T>>();

  add(signal: AbortSignal, initial?: T): AsyncQueue<T> {
    const q = new AsyncQueue<T>(() => this.#queues.delete(q));
    if (signal.aborted) {
      q.end();
      return q;
    }
    if (initial !== undefined) q.push(initial);
    this.#queues.add(q);
    signal.addEventListener(
      'abort',
      () => {
        this.#queues.delete(q);
        q.end();
      },
      { once: true },
    );
    return q;
  }

  emit(value: T): void {
    for (const q of this.#queues) q.push(value);
  }

  endAll(): void {
    for (const q of this.#queues) q.end();
    this.#queues.clear();
  }

  get count(): number {
    return this.#queues.size;
  }
}
