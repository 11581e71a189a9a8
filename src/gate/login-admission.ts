import type { Session } from './session.js';

/** What the admission counts, read by the metrics. */
export interface AdmissionCounters {
  /** Times the gate started holding unbound sessions' reads (a storm began). */
  holds: number;
  /** Unbound sessions whose reads were held, in all. */
  held: number;
  /** Requests of unbound sessions given up on as answered after `expireMs` (the node never answered them). */
  expired: number;
}

export interface AdmissionStats extends AdmissionCounters {
  inFlight: number;
  holding: number;
}

export interface LoginAdmissionOptions {
  /** Requests from unbound sessions in flight at once before the gate holds the others' reads; 0 = no limit. */
  maxInFlight: number;
  /** A request still unanswered after this long stops counting (a route that never answers must not block logins). */
  expireMs: number;
  now(): number;
}

/**
 * Login admission (issue 15): a login storm (every client of a restarted gate reconnecting and logging in at once)
 * must not freeze the sessions that are already playing. A storm is first requests: the gate forwards at most
 * `maxInFlight` requests of sessions that are unbound and were never answered; once that many are waiting for
 * their answers, it stops reading every other such session's socket, so their login frames wait in the kernel
 * instead of in the gate, the bus and the node, and resumes them oldest first as answers come back, a turn at a
 * time. Bound sessions, and sessions answered once (an unbound client using stateless routes), are never held:
 * their frames are read and forwarded as before, behind at most `maxInFlight` logins at each stage.
 *
 * A held session's liveness and authorize deadlines are the gate's delay, not the client's: its lastSeenMs and
 * authorize deadline move forward by the time it was held.
 */
export class LoginAdmission {
  readonly counters: AdmissionCounters = { holds: 0, held: 0, expired: 0 };
  readonly #o: LoginAdmissionOptions;
  /** Unbound, never answered sessions with requests in flight, with when their first one left. */
  readonly #inFlight = new Map<Session, { n: number; sinceMs: number }>();
  #count = 0;
  /** Held sessions, oldest first; `#head` is the next to resume (an array with a cursor, not shift()). */
  #held: Session[] = [];
  #head = 0;
  readonly #heldAtMs = new Map<Session, number>();
  /**
   * Sessions that would be held if a storm began now: unbound, never established, nothing in flight, not held. Kept
   * as they change, so starting to hold is a walk over these alone, never over every session of the gate.
   */
  readonly #fresh = new Set<Session>();
  #pump: NodeJS.Immediate | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(o: LoginAdmissionOptions) {
    this.#o = o;
  }

  get inFlight(): number {
    return this.#count;
  }

  /** The counters and the two levels now, for the metrics. */
  get stats(): AdmissionStats {
    return { ...this.counters, inFlight: this.#count, holding: this.holding };
  }

  /** Sessions whose reads are held now. */
  get holding(): number {
    return this.#heldAtMs.size;
  }

  /** Held sessions are silent because of the gate: the sweeper leaves their deadlines alone until released. */
  isHeld(s: Session): boolean {
    return this.#heldAtMs.has(s);
  }

  /** A new connection: held at once while a storm is being admitted, so it cannot jump the queue. */
  opened(s: Session): void {
    if (this.#o.maxInFlight <= 0 || s.isClosed) return;
    if (this.holding > 0) this.#hold(s);
    else this.#fresh.add(s);
  }

  /** A request (a data frame with a seq) of an unbound, never answered session was forwarded. */
  sent(s: Session): void {
    if (this.#o.maxInFlight <= 0) return;
    this.#fresh.delete(s);
    const e = this.#inFlight.get(s);
    if (e === undefined) this.#inFlight.set(s, { n: 1, sinceMs: this.#o.now() });
    else e.n++;
    this.#count++;
    this.#expiry ??= setTimeout(() => this.#expire(), this.#o.expireMs).unref();
    if (this.#count >= this.#o.maxInFlight && this.holding === 0) this.#holdUnbound();
  }

  /** The first response (not a push) was written to `s`: it is established, none of its requests count from now on. */
  answered(s: Session): void {
    this.#fresh.delete(s);
    const e = this.#inFlight.get(s);
    if (e === undefined) return;
    this.#count -= e.n;
    this.#inFlight.delete(s);
    this.#schedule();
  }

  /** The session ended: its requests stop counting, and a held one leaves the queue when its turn comes. */
  closed(s: Session): void {
    this.#fresh.delete(s);
    const e = this.#inFlight.get(s);
    if (e !== undefined) {
      this.#count -= e.n;
      this.#inFlight.delete(s);
      this.#schedule();
    }
    // the last held session gone: drop the queue now rather than keep closed sessions until the next storm
    if (this.#heldAtMs.delete(s) && this.#heldAtMs.size === 0) {
      this.#held = [];
      this.#head = 0;
    }
  }

  stop(): void {
    if (this.#pump !== undefined) clearImmediate(this.#pump);
    clearTimeout(this.#expiry);
    this.#pump = undefined;
    this.#expiry = undefined;
    for (let i = this.#head; i < this.#held.length; i++) this.#release(this.#held[i] as Session, this.#o.now());
    this.#held = [];
    this.#head = 0;
    this.#heldAtMs.clear();
    this.#fresh.clear();
  }

  #holdUnbound(): void {
    if (this.#fresh.size === 0) return;
    this.counters.holds++;
    for (const s of this.#fresh) if (s.uid === 0 && !s.isEstablished && !s.isClosed) this.#hold(s);
    this.#fresh.clear();
  }

  #hold(s: Session): void {
    s.conn.pauseReading();
    this.#held.push(s);
    this.#heldAtMs.set(s, this.#o.now());
    this.counters.held++;
  }

  #schedule(): void {
    if (this.#pump === undefined && this.holding > 0 && this.#count < this.#o.maxInFlight) {
      this.#pump = setImmediate(() => this.#resumeSome());
    }
  }

  /**
   * Resumes as many held sessions as there are free places. A resumed socket is read in the next poll phase, before
   * the next check phase, so by the next pump the places it took are counted.
   */
  #resumeSome(): void {
    this.#pump = undefined;
    const now = this.#o.now();
    let free = this.#o.maxInFlight - this.#count;
    while (free > 0 && this.#head < this.#held.length) {
      const s = this.#held[this.#head++] as Session;
      if (this.#release(s, now)) free--;
    }
    if (this.#head === this.#held.length) {
      this.#held = [];
      this.#head = 0;
      this.#heldAtMs.clear();
    } else this.#schedule();
  }

  /** false when the session had closed meanwhile. */
  #release(s: Session, now: number): boolean {
    const at = this.#heldAtMs.get(s);
    if (at === undefined || s.isClosed) return false;
    this.#heldAtMs.delete(s);
    const heldMs = now - at;
    s.lastSeenMs = Math.max(s.lastSeenMs, now);
    if (s.authorizeDeadlineMs > 0) s.authorizeDeadlineMs += heldMs;
    s.conn.resumeReading();
    // a released session that sends nothing yet is a candidate again
    if (!s.isEstablished && !this.#inFlight.has(s)) this.#fresh.add(s);
    return true;
  }

  #expire(): void {
    this.#expiry = undefined;
    const cutoff = this.#o.now() - this.#o.expireMs;
    for (const [s, e] of this.#inFlight) {
      if (e.sinceMs > cutoff) continue;
      this.#count -= e.n;
      this.counters.expired += e.n;
      this.#inFlight.delete(s);
      // the gate gave it its turn: it is not held again at the next storm's start (nor at every refill of this one)
      s.isEstablished = true;
    }
    if (this.#count > 0) this.#expiry = setTimeout(() => this.#expire(), this.#o.expireMs).unref();
    this.#schedule();
  }
}
