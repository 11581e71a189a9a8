import { signedRange } from '../packet/options.js';
import { ClientUsageError, RequestTimeoutError } from './errors.js';

/** A response: route and seq echo the request (docs/protocol.md, Packet layout). `body` is the client's own copy. */
export interface Reply {
  readonly route: number;
  readonly seq: number;
  readonly body: Uint8Array;
}

/** One request waiting for its response. resolve/reject settle it and release its timer and abort listener. */
export interface PendingRequest {
  readonly route: number;
  readonly seq: number;
  resolve(reply: Reply): void;
  reject(err: unknown): void;
}

/**
 * Requests in flight, keyed by (route, seq) like due-client-ts, with one seq counter per route.
 *
 * The counter cycles 1, 2, …, max, 1, … where max is the largest positive seq of the signed width (127, 32767,
 * 2147483647): it never stops after 32,767 requests (due-client-ts rejects 'seq overflow' forever), skips 0 (a push)
 * and skips seqs still pending, so a slow request is never answered with a newer one's response. Only the positive
 * half is used: some servers treat a negative seq as a push, and the positive half is what due-client-ts sends.
 */
export class PendingTable {
  readonly maxSeq: number;
  readonly #byRoute = new Map<number, Map<number, PendingRequest>>();
  /** Last seq issued per route. */
  readonly #last = new Map<number, number>();
  #size = 0;

  /** `seqBytes` must be 1, 2 or 4: with 0 no response can be matched (the client rejects request() before this). */
  constructor(seqBytes: 1 | 2 | 4) {
    this.maxSeq = signedRange(seqBytes).max;
  }

  /** Requests pending over all routes. */
  get size(): number {
    return this.#size;
  }

  /** The next free seq for `route` (add() commits it); throws ClientUsageError when every seq of the route is pending. */
  allocate(route: number): number {
    const inUse = this.#byRoute.get(route);
    if (inUse !== undefined && inUse.size >= this.maxSeq) {
      throw new ClientUsageError(
        `all ${this.maxSeq} seqs of route ${route} are pending; wait for responses or use a wider packet.seqBytes`,
      );
    }
    let seq = this.#last.get(route) ?? 0;
    // Terminates: fewer than maxSeq seqs are in use, so a free one exists within one cycle.
    do seq = seq >= this.maxSeq ? 1 : seq + 1;
    while (inUse?.has(seq));
    return seq;
  }

  /**
   * Registers a request under (route, seq) from allocate(), then calls `send`. Resolves with the response passed
   * to take(); rejects with RequestTimeoutError after `timeoutMs` (0 = none), with `signal.reason` on abort, with
   * what `send` throws, or with what takeAll()'s caller passes. A rejected request leaves the table at once, and
   * its timer and abort listener are released whichever way it ends.
   */
  track(
    route: number,
    seq: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    send: () => void,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      // Created now, so its stack shows the caller rather than a timer (nats.js util.ts timeout()).
      const timeoutError = timeoutMs > 0 ? new RequestTimeoutError(route, seq, timeoutMs) : undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let onAbort: (() => void) | undefined;
      const release = (): void => {
        clearTimeout(timer);
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      };
      const req: PendingRequest = {
        route,
        seq,
        resolve: (reply) => {
          release();
          resolve(reply);
        },
        reject: (err) => {
          release();
          reject(err);
        },
      };
      const fail = (err: unknown): void => {
        this.delete(req);
        req.reject(err);
      };
      this.add(req);
      if (timeoutError !== undefined) timer = setTimeout(() => fail(timeoutError), timeoutMs);
      if (signal !== undefined) {
        onAbort = () => fail(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      }
      try {
        send();
      } catch (err) {
        fail(err);
      }
    });
  }

  add(req: PendingRequest): void {
    let inUse = this.#byRoute.get(req.route);
    if (inUse === undefined) {
      inUse = new Map();
      this.#byRoute.set(req.route, inUse);
    }
    if (inUse.has(req.seq)) throw new ClientUsageError(`seq ${req.seq} of route ${req.route} is already pending`);
    inUse.set(req.seq, req);
    // Recorded here, not in allocate(), so a request that fails to encode (bad route) leaves no trace.
    this.#last.set(req.route, req.seq);
    this.#size++;
  }

  /** Removes and returns the request a response (route, seq) answers, or undefined when none waits (late reply). */
  take(route: number, seq: number): PendingRequest | undefined {
    const inUse = this.#byRoute.get(route);
    const req = inUse?.get(seq);
    if (inUse === undefined || req === undefined) return undefined;
    this.#unlink(inUse, req);
    return req;
  }

  /** Removes `req` if it is still the one pending under its (route, seq); safe to call twice. */
  delete(req: PendingRequest): void {
    const inUse = this.#byRoute.get(req.route);
    if (inUse?.get(req.seq) === req) this.#unlink(inUse, req);
  }

  /** Empties the table and returns what was pending (to fail them on disconnect). */
  takeAll(): PendingRequest[] {
    const all: PendingRequest[] = [];
    for (const inUse of this.#byRoute.values()) for (const req of inUse.values()) all.push(req);
    this.#byRoute.clear();
    this.#size = 0;
    return all;
  }

  #unlink(inUse: Map<number, PendingRequest>, req: PendingRequest): void {
    inUse.delete(req.seq);
    this.#size--;
    // Drop empty route maps so a client that touched many routes does not keep one map per route forever.
    if (inUse.size === 0) this.#byRoute.delete(req.route);
  }
}
