import type { DuetError } from '../errors.js';

/**
 * The message bus between gates and nodes (docs/architecture.md). `memory` runs in one process, `nats` across
 * hosts; both pass test/contract/bus.contract.ts.
 */
/** Encodes and decodes one envelope type (src/bus/envelope.ts). */
export interface ValueCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export interface BusMessage {
  readonly subject: string;
  /** Owned by the receiver; valid after the handler returns. */
  readonly data: Uint8Array;
  /**
   * Set when the message never left the process (memory bus, publishValue): the publisher's value and the codec
   * `data` is encoded with. Read it through decodeMessage(), which falls back to decoding for any other codec.
   */
  readonly value?: unknown;
  readonly codec?: ValueCodec<unknown>;
  /** Answers a request; false when the message carried no reply subject. */
  respond(data: Uint8Array): boolean;
}

/** A pull stream of messages; `break` out of `for await` or drain() stops it. */
export interface Subscription extends AsyncIterable<BusMessage>, AsyncDisposable {
  readonly subject: string;
  /** Stops new deliveries, lets queued ones be read, then ends the iterator. Safe to call twice. */
  drain(): Promise<void>;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

export interface RequestOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export type BusStatus = 'connected' | 'reconnecting' | 'closed';

export interface Bus extends AsyncDisposable {
  /**
   * Fire and forget. Order is kept per subject for one publisher. Never throws: a message the bus cannot take is
   * counted as a drop and the reason returned (ClosedError closed or draining, UnavailableError reconnect buffer
   * full or refused by the client, DuetError BUS_PAYLOAD_TOO_LARGE over maxPayload); undefined when accepted.
   */
  publish(subject: string, data: Uint8Array): DuetError | undefined;
  /**
   * The largest payload one message may carry, in bytes (NATS: the server's max_payload, read from the connection,
   * so it follows a reconnect to a server with another limit). Batchers split below it.
   */
  readonly maxPayload: number;
  /**
   * publish(subject, codec.encode(value)), except that an in-process bus hands `value` itself to receivers that
   * decode with the same codec, and encodes only if a receiver reads `data` (a capture, a trace). The value must
   * not change after publishing, like a published buffer. Returns what publish() returns.
   */
  publishValue<T>(subject: string, value: T, codec: ValueCodec<T>): DuetError | undefined;
  subscribe(subject: string, opts?: SubscribeOptions): Subscription;
  /**
   * One request, one reply. Rejects with TimeoutError, NoRespondersError (no subscriber) or ClosedError.
   * Not for the hot path: gate operations use one reply subject per process (see src/bus/rpc.ts).
   */
  request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<Uint8Array>;
  /** Resolves once every publish so far has reached the server (memory: at once). */
  flush(): Promise<void>;
  /** Finish subscriptions, flush publishes, close. Safe to call twice. */
  drain(): Promise<void>;
  /** Resolves (never rejects) when the bus is closed, with the error that closed it, if any. */
  readonly closed: Promise<Error | undefined>;
  readonly status: BusStatus;
  /** Called on every status change (reconnecting, connected, closed). */
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** A unique subject under this bus's inbox prefix, for reply streams. */
  createInbox(): string;
}

/** The message's value when it was published in this process with `codec`, else `codec.decode(data)`. */
export function decodeMessage<T>(m: BusMessage, codec: ValueCodec<T>): T {
  return m.codec === codec ? (m.value as T) : codec.decode(m.data);
}
