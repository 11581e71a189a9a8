/** A connection's outbound lane: frames waiting for the socket to drain. */
import type { PreparedFrame } from './prepared-frame.js';

type Frame = Uint8Array | PreparedFrame;

/** FIFO over an array with a moving head: Array.shift() is O(n), this is O(1) amortised. */
export class FrameQueue {
  #items: Frame[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(frame: Frame): void {
    this.#items.push(frame);
  }

  shift(): Frame | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const frame = this.#items[this.#head];
    this.#items[this.#head] = EMPTY;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return frame;
  }
}
const EMPTY = new Uint8Array(0);
