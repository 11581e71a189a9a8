import { type DuetError, ErrorCode } from '../errors.js';
import type { Bus, ValueCodec } from './bus.js';

/** One batch as a value and its codec (Bus.publishValue: an in-process bus skips the encoding). */
export interface BatchMessage {
  subject: string;
  /** undefined when the bus took it; else why not (Bus.publish). */
  publish(bus: Bus): DuetError | undefined;
}

/** Typed at the call site, so value and codec always match. */
export function batchMessage<V>(subject: string, value: V, codec: ValueCodec<V>): BatchMessage {
  return { subject, publish: (bus) => bus.publishValue(subject, value, codec) };
}

export interface BatcherOptions<T> {
  bus: Bus;
  /** Builds one key's items, in arrival order, into one bus message (batchMessage) and names its subject. */
  encode(items: T[], key: string): BatchMessage;
  /** A batch is published at once when it reaches this many items. */
  maxItems?: number;
  /** ... or this many estimated payload bytes (capped at half the bus's maxPayload). */
  maxBytes?: number;
  /**
   * Items the bus did not take: refused (one item alone over maxPayload, BUS_PAYLOAD_TOO_LARGE) or dropped (closed,
   * reconnect buffer full). The owner logs, counts and fails whoever waits on them; default: nothing (tests only).
   */
  onDropped?(items: T[], key: string, err: DuetError): void;
}

/**
 * Coalesces the messages bound for one subject within an event-loop turn into one bus message (docs/architecture.md
 * "Batching": the broker's cost is per message). Flushed on setImmediate, so nothing waits past the current turn;
 * order per subject is arrival order, and subjects are flushed in the order they were first used in the turn.
 *
 * The byte counts callers give are estimates that decide when to flush early; the bus checks the encoded size: a
 * batch it refuses as over its maxPayload is split in halves (order kept) until each part fits, and a single item
 * that cannot fit goes to onDropped with the typed error, never lost silently.
 */
export class Batcher<T> {
  readonly #bus: Bus;
  readonly #encode: (items: T[], key: string) => BatchMessage;
  readonly #onDropped: (items: T[], key: string, err: DuetError) => void;
  readonly #maxItems: number;
  readonly #maxBytes: number;
  #pending = new Map<string, { items: T[]; bytes: number }>();
  #scheduled: NodeJS.Immediate | undefined;
  /** Bus messages published (for benchmarks and metrics). */
  published = 0;
  /** Batches the bus refused as too large, re-sent in parts. */
  splits = 0;
  /** Items the bus refused or dropped (each also went to onDropped). */
  dropped = 0;

  constructor(opts: BatcherOptions<T>) {
    this.#bus = opts.bus;
    this.#encode = opts.encode;
    this.#onDropped = opts.onDropped ?? (() => {});
    this.#maxItems = opts.maxItems ?? 512;
    this.#maxBytes = opts.maxBytes ?? 256 * 1024;
  }

  /** Queues `item` under `key` (a destination: a node id, a gate id, a subject). */
  add(key: string, item: T, bytes: number): void {
    const subject = key;
    let b = this.#pending.get(subject);
    if (!b) {
      b = { items: [], bytes: 0 };
      this.#pending.set(subject, b);
    }
    b.items.push(item);
    b.bytes += bytes;
    // Half the limit leaves room for estimates that run short; the bus's check of the encoded bytes is the guarantee.
    if (b.items.length >= this.#maxItems || b.bytes >= Math.min(this.#maxBytes, this.#bus.maxPayload / 2)) {
      this.#pending.delete(subject);
      this.#publish(subject, b.items);
      return;
    }
    this.#scheduled ??= setImmediate(this.flush);
  }

  /** Publishes everything pending now (also called on stop). */
  readonly flush = (): void => {
    if (this.#scheduled) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [subject, b] of pending) this.#publish(subject, b.items);
  };

  #publish(key: string, items: T[]): void {
    this.published++;
    const err = this.#encode(items, key).publish(this.#bus);
    if (err === undefined) return;
    if (err.code === ErrorCode.BUS_PAYLOAD_TOO_LARGE && items.length > 1) {
      this.splits++;
      const half = Math.ceil(items.length / 2);
      this.#publish(key, items.slice(0, half));
      this.#publish(key, items.slice(half));
      return;
    }
    this.dropped += items.length;
    this.#onDropped(items, key, err);
  }

  /** Drops the timer; pending items are flushed first. */
  close(): void {
    this.flush();
  }
}
