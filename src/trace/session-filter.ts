import type { TransitionRecord } from './trace.js';

/** The final session state (actors/session.ts): a followed session is forgotten once it gets there. */
export const CLOSED_STATE = 'closed';
/** Sessions remembered while waiting for a bind (a uid filter needs them); the oldest is forgotten first. */
export const DEFAULT_MAX_PENDING_SESSIONS = 10_000;
/** Records kept per unbound session: handshake and connect take two, the rest is slack. */
const MAX_PENDING_PER_SESSION = 16;

export interface SessionFilterOptions {
  /** 0 or undefined = any user. */
  uid?: number;
  /** 0 or undefined = any connection. */
  cid?: number;
  /** Undefined = any gate. */
  gate?: string;
  maxPendingSessions?: number;
}

/**
 * Decides which transition records a `--uid`/`--cid`/`--gate` filter lets through, following whole sessions: a
 * session carries uid 0 until it binds, so its connect records are held back until the bind names the user, then
 * released ahead of the bind; once matched the session is followed to `closed` whatever its uid does.
 */
export class SessionFilter {
  readonly #uid: number;
  readonly #cid: number;
  readonly #gate: string | undefined;
  readonly #maxPending: number;
  /** gate/cid keys of sessions that matched the uid. */
  readonly #followed = new Set<string>();
  /** gate/cid → records of a session still unbound; Map order is age, for eviction. */
  readonly #pending = new Map<string, TransitionRecord[]>();

  constructor(o: SessionFilterOptions = {}) {
    this.#uid = o.uid ?? 0;
    this.#cid = o.cid ?? 0;
    this.#gate = o.gate || undefined;
    this.#maxPending = o.maxPendingSessions ?? DEFAULT_MAX_PENDING_SESSIONS;
  }

  /** True when every record passes (no filter): callers skip the filter entirely. */
  get isOpen(): boolean {
    return this.#uid === 0 && this.#cid === 0 && this.#gate === undefined;
  }

  /** The records to emit now, in order (possibly none, possibly held-back ones before `t`). */
  accept(t: TransitionRecord): TransitionRecord[] {
    if (this.#gate !== undefined && t.gate !== this.#gate) return [];
    if (this.#cid !== 0 && t.cid !== this.#cid) return [];
    if (this.#uid === 0) return [t];
    const key = `${t.gate}/${t.cid}`;
    const closed = t.to === CLOSED_STATE;
    if (this.#followed.has(key)) {
      if (closed) this.#followed.delete(key);
      return [t];
    }
    if (t.uid === this.#uid) {
      const held = this.#pending.get(key) ?? [];
      this.#pending.delete(key);
      if (!closed) this.#followed.add(key);
      held.push(t);
      return held;
    }
    if (t.uid !== 0 || closed) {
      this.#pending.delete(key);
      return [];
    }
    const held = this.#pending.get(key);
    if (held) {
      if (held.length < MAX_PENDING_PER_SESSION) held.push(t);
      return [];
    }
    if (this.#pending.size >= this.#maxPending) {
      const oldest = this.#pending.keys().next();
      if (!oldest.done) this.#pending.delete(oldest.value);
    }
    this.#pending.set(key, [t]);
    return [];
  }
}
