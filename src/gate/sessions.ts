import type { Session } from './session.js';

/**
 * The gate's session table (due session/session.go): cid → session, uid → session, channel → sessions.
 * It only indexes; lifecycle decisions (closing a displaced session) are the gate's.
 */
export class SessionTable {
  readonly #byCid = new Map<number, Session>();
  /** Connection cid → session: differs from the session's cid after a resume on a new connection. */
  readonly #byConn = new Map<number, Session>();
  readonly #byUid = new Map<number, Session>();
  readonly #channels = new Map<string, Set<Session>>();

  get size(): number {
    return this.#byCid.size;
  }

  get boundCount(): number {
    return this.#byUid.size;
  }

  add(s: Session): void {
    this.#byCid.set(s.cid, s);
    this.#byConn.set(s.conn.cid, s);
  }

  /** The session a connection's frames belong to. */
  byConn(connCid: number): Session | undefined {
    return this.#byConn.get(connCid);
  }

  /** A suspended session continues on `connCid` (resume on this gate). */
  attachConn(connCid: number, s: Session): void {
    this.#byConn.set(connCid, s);
  }

  /** The connection is gone (suspension): its late frames and close are ignored. */
  detachConn(connCid: number, s: Session): void {
    if (this.#byConn.get(connCid) === s) this.#byConn.delete(connCid);
  }

  byCid(cid: number): Session | undefined {
    return this.#byCid.get(cid);
  }

  byUid(uid: number): Session | undefined {
    return this.#byUid.get(uid);
  }

  /** Indexes uid → s; returns the session that held the uid before, if another one did. */
  indexUid(uid: number, s: Session): Session | undefined {
    const prev = this.#byUid.get(uid);
    this.#byUid.set(uid, s);
    return prev !== undefined && prev !== s ? prev : undefined;
  }

  /** Removes uid → s only if the index still points at `s` (a newer session may own the uid now). */
  unindexUid(uid: number, s: Session): boolean {
    if (this.#byUid.get(uid) !== s) return false;
    this.#byUid.delete(uid);
    return true;
  }

  /** Drops the session and its channel memberships. */
  remove(s: Session): void {
    if (this.#byCid.get(s.cid) === s) this.#byCid.delete(s.cid);
    this.detachConn(s.conn.cid, s);
    if (s.channels) {
      for (const ch of s.channels) this.unsubscribe(ch, s);
      s.channels = undefined;
    }
  }

  subscribe(channel: string, s: Session): void {
    let set = this.#channels.get(channel);
    if (!set) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    set.add(s);
    s.channels ??= new Set();
    s.channels.add(channel);
  }

  unsubscribe(channel: string, s: Session): void {
    const set = this.#channels.get(channel);
    if (set) {
      set.delete(s);
      if (set.size === 0) this.#channels.delete(channel);
    }
    s.channels?.delete(channel);
  }

  channel(channel: string): ReadonlySet<Session> | undefined {
    return this.#channels.get(channel);
  }

  all(): IterableIterator<Session> {
    return this.#byCid.values();
  }

  bound(): IterableIterator<Session> {
    return this.#byUid.values();
  }
}
