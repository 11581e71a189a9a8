/**
 * Walking many items without holding the event loop (issue 20 case 8): a gate-wide sweep over 15,000 sessions that
 * writes a frame to each took the loop for about a second, and every other session waited. `SlicedWalk` visits
 * items in slices of at most `sliceMs`, yielding to I/O between slices (setImmediate), and can be cancelled.
 */

export const DEFAULT_SLICE_MS = 5;
/** How many items between clock reads: one visit is microseconds, performance.now() is not free. */
const CHECK_EVERY = 32;

export class SlicedWalk<T> {
  readonly #sliceMs: number;
  #items: T[] = [];
  #next = 0;
  #visit: ((item: T) => void) | undefined;
  #immediate: NodeJS.Immediate | undefined;

  constructor(sliceMs = DEFAULT_SLICE_MS) {
    this.#sliceMs = sliceMs;
  }

  /** True while a walk still has items to visit. */
  get isRunning(): boolean {
    return this.#visit !== undefined;
  }

  /**
   * Visits every item of `items` (a snapshot is taken now), the first slice synchronously. A walk still running is
   * finished first (synchronously), so no item of an earlier sweep is skipped and two walks never interleave.
   */
  start(items: Iterable<T>, visit: (item: T) => void): void {
    if (this.#visit !== undefined) {
      this.#run(Number.POSITIVE_INFINITY);
    }
    this.#items = [...items];
    this.#next = 0;
    this.#visit = visit;
    this.#run(performance.now() + this.#sliceMs);
  }

  /** Drops the rest of the walk (owner stopping). */
  cancel(): void {
    clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#done();
  }

  #run(until: number): void {
    clearImmediate(this.#immediate);
    this.#immediate = undefined;
    const visit = this.#visit;
    if (visit === undefined) return;
    const items = this.#items;
    try {
      while (this.#next < items.length) {
        const end = Math.min(items.length, this.#next + CHECK_EVERY);
        while (this.#next < end) visit(items[this.#next++] as T);
        if (this.#next < items.length && performance.now() >= until) {
          this.#immediate = setImmediate(() => this.#run(performance.now() + this.#sliceMs));
          return;
        }
      }
    } catch (err) {
      this.#done(); // a visit that throws ends the walk; the next start() begins clean
      throw err;
    }
    this.#done();
  }

  #done(): void {
    this.#items = [];
    this.#next = 0;
    this.#visit = undefined;
  }
}
