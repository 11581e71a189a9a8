import { addAbortListener } from 'node:events';
import { AsyncQueue } from '../async-queue.js';
import type { LocateEvent, LocateKind } from './locator.js';

interface Watcher {
  readonly kinds: ReadonlySet<LocateKind>;
  readonly queue: AsyncQueue<LocateEvent>;
  stopAbort: Disposable | undefined;
}

/**
 * Fan-out of locate events to watchers that each asked for some kinds. A watcher ends when its signal aborts,
 * when its consumer breaks out of the loop, or on endAll(); its abort listener is removed in every case.
 */
export class LocateWatchers {
  readonly #watchers = new Set<Watcher>();

  /** A stream of the events of `kinds`; already ended when `signal` is aborted or `isOpen` is false. */
  add(kinds: readonly LocateKind[], signal: AbortSignal, isOpen = true): AsyncIterable<LocateEvent> {
    const w: Watcher = {
      kinds: new Set(kinds),
      queue: new AsyncQueue<LocateEvent>(() => this.#remove(w)),
      stopAbort: undefined,
    };
    if (!isOpen || signal.aborted) {
      w.queue.end();
      return w.queue;
    }
    this.#watchers.add(w);
    w.stopAbort = addAbortListener(signal, () => this.#remove(w));
    return w.queue;
  }

  /** Pushes `e` to every watcher of its kind; the same (caller-frozen) object goes to all of them. */
  emit(e: LocateEvent): void {
    for (const w of this.#watchers) if (w.kinds.has(e.insKind)) w.queue.push(e);
  }

  endAll(): void {
    for (const w of [...this.#watchers]) this.#remove(w);
  }

  get count(): number {
    return this.#watchers.size;
  }

  #remove(w: Watcher): void {
    this.#watchers.delete(w);
    w.stopAbort?.[Symbol.dispose]();
    w.stopAbort = undefined;
    w.queue.end();
  }
}
