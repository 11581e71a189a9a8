import { UnavailableError } from '../errors.js';

/**
 * Publishes held while the NATS connection reconnects (the Go client's ReconnectBufSize), bounded in bytes
 * (payload + subject). nats.js v3 itself discards what was written during an outage, so NatsBus keeps them here and
 * sends them, in order, once reconnected.
 */
export class HeldPublishes {
  readonly #maxBytes: number;
  #items: { subject: string; data: Uint8Array }[] = [];
  #bytes = 0;
  #refusals = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** undefined when held; the refusal when the buffer is full. */
  hold(subject: string, data: Uint8Array): UnavailableError | undefined {
    const size = data.byteLength + subject.length;
    if (this.#bytes + size > this.#maxBytes) {
      this.#refusals++;
      return new UnavailableError(
        `nats is reconnecting and its ${this.#maxBytes} B buffer is full, publish on ${subject} dropped`,
      );
    }
    this.#items.push({ subject, data });
    this.#bytes += size;
    return undefined;
  }

  /** True for the first refusal since the last take() (one report per outage). */
  firstRefusal(): boolean {
    return this.#refusals === 1;
  }

  /** Everything held, in order; the buffer is empty afterwards. */
  take(): { subject: string; data: Uint8Array }[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    this.#refusals = 0;
    return items;
  }
}
