import { AsyncQueue } from '../async-queue.js';
import { ClosedError, DuetError, ErrorCode, TimeoutError } from '../errors.js';
import type { Bus, BusMessage, BusStatus, RequestOptions, SubscribeOptions, Subscription, ValueCodec } from './bus.js';
import { DEFAULT_MAX_PAYLOAD, payloadTooLarge } from './payload-limit.js';
import { hasWildcard, subjectMatches } from './subject-match.js';

interface Sub {
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly q: AsyncQueue<BusMessage>;
}

let inboxSeq = 0;

export interface MemoryBusOptions {
  /**
   * Largest payload accepted, bytes (default 1 MiB, as nats-server). publish() always checks it; publishValue()
   * (whose value is never encoded in process) only when this is given.
   */
  maxPayload?: number;
}

/**
 * In-process bus with NATS's semantics that matter here: per-subject order for one publisher, wildcards, queue
 * groups (one member each), and NoResponders when a request has no subscriber. Data is passed by reference: a
 * publisher must not mutate a buffer after publishing it.
 */
export class MemoryBus implements Bus {
  readonly #exact = new Map<string, Sub[]>();
  readonly #wild: Sub[] = [];
  readonly #rr = new Map<string, number>();
  #status: BusStatus = 'connected';
  readonly #listeners = new Set<(s: BusStatus) => void>();
  #resolveClosed!: (e: Error | undefined) => void;
  readonly closed: Promise<Error | undefined> = new Promise((r) => {
    this.#resolveClosed = r;
  });
  readonly #inboxPrefix = `_INBOX.mem${process.pid}x${++inboxSeq}`;
  #inboxes = 0;
  /** Messages published while closed or over maxPayload (counted, never thrown). */
  dropped = 0;
  readonly maxPayload: number;

  readonly #checkValues: boolean;

  constructor(opts: MemoryBusOptions = {}) {
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#checkValues = opts.maxPayload !== undefined;
  }

  get status(): BusStatus {
    return this.#status;
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  createInbox(): string {
    return `${this.#inboxPrefix}.${++this.#inboxes}`;
  }

  publish(subject: string, data: Uint8Array): DuetError | undefined {
    if (this.#status === 'closed') {
      this.dropped++;
      return new ClosedError(`bus is closed, publish on ${subject} dropped`);
    }
    if (data.byteLength > this.maxPayload) {
      this.dropped++;
      return payloadTooLarge(subject, data.byteLength, this.maxPayload);
    }
    this.#route(subject, data, undefined);
    return undefined;
  }

  publishValue<T>(subject: string, value: T, codec: ValueCodec<T>): DuetError | undefined {
    if (this.#status === 'closed') {
      this.dropped++;
      return new ClosedError(`bus is closed, publish on ${subject} dropped`);
    }
    // Nothing leaves the process, so values are not sized unless a limit was asked for (tests of the split path).
    let data: Uint8Array | undefined;
    if (this.#checkValues) {
      data = codec.encode(value);
      if (data.byteLength > this.maxPayload) {
        this.dropped++;
        return payloadTooLarge(subject, data.byteLength, this.maxPayload);
      }
    }
    const targets = this.#targets(subject);
    if (targets.length === 0) return undefined;
    // The receivers get the value; the bytes exist only if one of them asks.
    const msg: BusMessage = {
      subject,
      get data(): Uint8Array {
        data ??= codec.encode(value);
        return data;
      },
      value,
      codec: codec as ValueCodec<unknown>,
      respond: () => false,
    };
    for (const t of targets) t.q.push(msg);
    return undefined;
  }

  #route(subject: string, data: Uint8Array, reply: string | undefined): number {
    const targets = this.#targets(subject);
    if (targets.length === 0) return 0;
    const msg: BusMessage = {
      subject,
      data,
      respond: (d) => {
        if (reply === undefined || this.#status === 'closed') return false;
        this.#route(reply, d, undefined);
        return true;
      },
    };
    for (const t of targets) t.q.push(msg);
    return targets.length;
  }

  #targets(subject: string): Sub[] {
    const direct = this.#exact.get(subject);
    let matched: Sub[] = direct ? direct : [];
    if (this.#wild.length > 0) {
      const w = this.#wild.filter((s) => subjectMatches(s.pattern, subject));
      if (w.length > 0) matched = matched.concat(w);
    }
    if (!matched.some((s) => s.queue !== undefined)) return matched;
    // One member per queue group, round robin (NATS picks at random; rr keeps tests deterministic).
    const out: Sub[] = [];
    const groups = new Map<string, Sub[]>();
    for (const s of matched) {
      if (s.queue === undefined) out.push(s);
      else {
        const g = groups.get(s.queue) ?? [];
        g.push(s);
        groups.set(s.queue, g);
      }
    }
    for (const [name, members] of groups) {
      const key = `${subject}\u0000${name}`;
      const n = (this.#rr.get(key) ?? 0) + 1;
      this.#rr.set(key, n);
      out.push(members[n % members.length] as Sub);
    }
    return out;
  }

  subscribe(subject: string, opts: SubscribeOptions = {}): Subscription {
    if (this.#status === 'closed') throw new ClosedError('bus is closed');
    const remove = (): void => {
      if (hasWildcard(subject)) {
        const i = this.#wild.indexOf(sub);
        if (i >= 0) this.#wild.splice(i, 1);
      } else {
        const list = this.#exact.get(subject);
        if (list) {
          const i = list.indexOf(sub);
          if (i >= 0) list.splice(i, 1);
          if (list.length === 0) this.#exact.delete(subject);
        }
      }
    };
    const q = new AsyncQueue<BusMessage>(remove);
    const sub: Sub = { pattern: subject, queue: opts.queue, q };
    if (hasWildcard(subject)) this.#wild.push(sub);
    else {
      const list = this.#exact.get(subject);
      if (list) list.push(sub);
      else this.#exact.set(subject, [sub]);
    }
    const drain = async (): Promise<void> => {
      remove();
      q.end();
    };
    return {
      subject,
      drain,
      [Symbol.asyncIterator]: () => q[Symbol.asyncIterator](),
      [Symbol.asyncDispose]: drain,
    };
  }

  async request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
    const timeoutErr = new TimeoutError(`request on ${subject} timed out after ${opts.timeoutMs} ms`);
    if (this.#status === 'closed') throw new ClosedError('bus is closed');
    opts.signal?.throwIfAborted();
    const inbox = this.createInbox();
    const sub = this.subscribe(inbox);
    const it = sub[Symbol.asyncIterator]();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      void sub.drain();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.#route(subject, data, inbox) === 0) {
        throw new DuetError(ErrorCode.NO_RESPONDERS, `no responders on ${subject}`);
      }
      const reply = await Promise.race([
        it.next(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(timeoutErr), opts.timeoutMs);
        }),
      ]);
      opts.signal?.throwIfAborted();
      if (reply.done) throw new ClosedError('bus closed while waiting for a reply');
      return reply.value.data;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      await sub.drain();
    }
  }

  async flush(): Promise<void> {}

  async drain(): Promise<void> {
    if (this.#status === 'closed') return;
    this.#status = 'closed';
    for (const list of this.#exact.values()) for (const s of list) s.q.end();
    for (const s of this.#wild) s.q.end();
    this.#exact.clear();
    this.#wild.length = 0;
    for (const l of this.#listeners) l('closed');
    this.#resolveClosed(undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.drain();
  }
}
