/**
 * The pushes a resumable session keeps (issue 11): numbered from 1 in the order they were written, bounded by count
 * and bytes. While the session is live the ring is a short retransmit window; while it is suspended it holds what
 * the client missed, and `overflowed` ends the suspension (the gap could not be replayed).
 */
export class PushRing {
  /** Pushes numbered so far (the number of the newest). */
  pushed: number;
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  #items: Uint8Array[] = [];
  #bytes = 0;
  /** Set when, while suspended, a push had to evict one the client has not seen. */
  overflowed = false;

  constructor(maxMessages: number, maxBytes: number, pushed = 0) {
    this.#maxMessages = Math.max(1, maxMessages);
    this.#maxBytes = Math.max(1, maxBytes);
    this.pushed = pushed;
  }

  /** Number of the oldest push still held (pushed + 1 when empty). */
  get oldest(): number {
    return this.pushed - this.#items.length + 1;
  }

  get size(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Records a push; `strict` (suspended) flags an overflow instead of silently dropping the oldest. */
  add(packet: Uint8Array, strict: boolean): void {
    this.pushed++;
    // A copy: the packet is usually a view into a whole bus batch, which the ring must not keep alive.
    this.#items.push(packet.slice());
    this.#bytes += packet.length;
    while (this.#items.length > this.#maxMessages || (this.#bytes > this.#maxBytes && this.#items.length > 1)) {
      const dropped = this.#items.shift() as Uint8Array;
      this.#bytes -= dropped.length;
      if (strict) this.overflowed = true;
    }
  }

  /** The pushes after `seen`, or undefined when some of them are no longer held (or `seen` is ahead). */
  since(seen: number): Uint8Array[] | undefined {
    if (seen > this.pushed || seen < 0) return undefined;
    if (seen + 1 < this.oldest) return undefined;
    return this.#items.slice(seen + 1 - this.oldest);
  }
}
