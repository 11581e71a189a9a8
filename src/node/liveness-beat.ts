import type { Bus } from '../bus/bus.js';
import { encodeBeat } from '../bus/liveness-codec.js';

/**
 * A node's liveness signal: a 4-byte message on its alive subject every `intervalMs`, carrying the interval, so a
 * gate knows when three beats are missing without sharing configuration (src/gate/node-liveness.ts). A killed or
 * stopped process stops beating at once, long before the registry entry expires. On a graceful stop the last beat
 * carries 0 ("leaving"): gates forget the node instead of treating its silence as a crash.
 */
export class LivenessBeat {
  readonly #bus: Bus;
  readonly #subject: string;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(bus: Bus, subject: string, intervalMs: number) {
    this.#bus = bus;
    this.#subject = subject;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    if (this.#intervalMs <= 0 || this.#timer) return;
    this.#beat(this.#intervalMs);
    this.#timer = setInterval(() => this.#beat(this.#intervalMs), this.#intervalMs);
  }

  #beat(intervalMs: number): void {
    // A dropped beat is the signal itself (the gates will notice the silence); the bus has counted the drop.
    this.#bus.publish(this.#subject, encodeBeat(intervalMs));
  }

  /** Stops beating and says "leaving". Safe to call twice. */
  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#beat(0);
  }
}
