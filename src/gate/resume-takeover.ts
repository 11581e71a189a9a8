import type { Subscription } from '../bus/bus.js';
import { type Takeover, TakeoverCodec, type TakeoverReply, TakeoverReplyCodec } from '../bus/envelope.js';
import { CloseCode, errorMessage } from '../errors.js';
import { PushRing } from './push-ring.js';
import type { EarlyPush, ResumeDeps, ResumeOptions, ResumeState } from './resume.js';
import { verifyResumeToken } from './resume-token.js';
import type { Session } from './session.js';

/** How long a handed-over user's pushes are relayed to its new gate. */
const MOVED_TTL_MS = 30_000;
/** How long the new gate holds a node's direct pushes waiting for that node's fence (a node that died never sends it). */
const AWAIT_FENCE_MS = 2000;
const dec = new TextDecoder();

/** Counters for metrics and tests. */
export interface ResumeCounters {
  offered: number;
  resumedLocal: number;
  resumedRemote: number;
  refused: number;
  handedOver: number;
  /** Takeover requests whose resume token was missing, forged or named another session. */
  takeoversRefused: number;
  expired: number;
  overflowed: number;
}

/** What the takeover needs from the resume feature that owns it. */
export interface TakeoverParts {
  state(s: Session): ResumeState;
  control(s: Session, body: Record<string, unknown>): void;
  releaseHeld(s: Session, nid: string): void;
  deliver(s: Session, packet: Uint8Array, disconnect: boolean): boolean;
}

/** Every resume counter at 0: a new takeover's, and what a gate without resume reports. */
export function noResumeCounters(): ResumeCounters {
  return {
    offered: 0,
    resumedLocal: 0,
    resumedRemote: 0,
    refused: 0,
    handedOver: 0,
    takeoversRefused: 0,
    expired: 0,
    overflowed: 0,
  };
}

/**
 * Resume requests: on this gate (the suspended session continues on the new connection) or by takeover from another
 * gate over the bus, and the other side of it (handing one of ours over). Part of the resume feature (resume.ts).
 */
export class ResumeTakeover {
  readonly counters: ResumeCounters = noResumeCounters();
  readonly #o: ResumeOptions;
  readonly #d: ResumeDeps;
  readonly #p: TakeoverParts;
  #sub: Subscription | undefined;
  readonly #movedUid = new Map<number, { gid: string; until: number }>();
  readonly #movedCid = new Map<number, { gid: string; uid: number; until: number }>();
  /** Sessions whose takeover request is in flight, by uid: pushes for them are kept until it is decided. */
  readonly #pendingUid = new Map<number, Session>();

  constructor(o: ResumeOptions, d: ResumeDeps, p: TakeoverParts) {
    this.#o = o;
    this.#d = d;
    this.#p = p;
  }

  /** Serves takeover requests from other gates. */
  start(): void {
    const sub = this.#d.bus.subscribe(this.#d.subjects.gateTakeover(this.#d.gid));
    this.#sub = sub;
    void (async () => {
      for await (const msg of sub) {
        let reply: TakeoverReply;
        try {
          reply = this.#handOver(TakeoverCodec.decode(msg.data));
        } catch (err) {
          reply = { ok: false, error: errorMessage(err), packets: [], pushed: 0, nodes: [] };
        }
        msg.respond(TakeoverReplyCodec.encode(reply));
      }
    })().catch((err: unknown) => this.#d.log.warn('takeover loop ended', { err: errorMessage(err) }));
  }

  async stop(): Promise<void> {
    await this.#sub?.drain();
  }

  /** Is this frame a resume request (a data packet on the reserved route)? Returns its parsed body. */
  parseRequest(route: number, body: Uint8Array): { token: unknown; seen: number } | undefined {
    if (route !== this.#o.route) return undefined;
    try {
      const m = JSON.parse(dec.decode(body)) as Record<string, unknown>;
      if (m.type !== 'resume') return undefined;
      const seen = typeof m.seen === 'number' && Number.isSafeInteger(m.seen) && m.seen >= 0 ? m.seen : 0;
      return { token: m.token, seen };
    } catch {
      return undefined;
    }
  }

  /**
   * Handles a resume request from a connection still in handshake (`fresh`). Resolves true when the session
   * resumed (on this gate: `fresh` is dropped and the old session continues; by takeover: `fresh` becomes it).
   */
  async resume(fresh: Session, req: { token: unknown; seen: number }): Promise<boolean> {
    const v = verifyResumeToken(req.token, this.#o.secret, Date.now());
    if (!v.ok) return this.#refuse(fresh, v.error);
    const c = v.claims;
    const p = this.#p;
    if (c.gid === this.#d.gid) {
      const old = this.#d.sessions.byCid(c.cid);
      if (!old?.isSuspended || old.uid !== c.uid) return this.#refuse(fresh, 'session not resumable');
      const st = p.state(old);
      if (st.epoch !== c.epoch) return this.#refuse(fresh, 'stale token');
      const missed = st.ring?.since(req.seen);
      if (!missed) return this.#refuse(fresh, 'pushes lost (resume buffer overflowed)');
      const sessions = this.#d.sessions;
      sessions.remove(fresh);
      old.conn = fresh.conn;
      old.lastSeenMs = Date.now();
      sessions.attachConn(fresh.conn.cid, old);
      st.held = p.state(fresh).held;
      this.counters.resumedLocal++;
      old.send({ type: 'session.resumed' });
      this.#finish(old, missed);
      return true;
    }
    let reply: TakeoverReply;
    const fst = p.state(fresh);
    fst.early = [];
    this.#pendingUid.set(c.uid, fresh);
    try {
      const token = req.token as string;
      const data = TakeoverCodec.encode({
        cid: c.cid,
        uid: c.uid,
        epoch: c.epoch,
        seen: req.seen,
        gid: this.#d.gid,
        token,
      });
      const bytes = await this.#d.bus.request(this.#d.subjects.gateTakeover(c.gid), data, {
        timeoutMs: this.#d.callTimeoutMs,
      });
      reply = TakeoverReplyCodec.decode(bytes);
    } catch (err) {
      this.#endPending(fresh, c.uid);
      return this.#refuse(fresh, `gate ${c.gid} unreachable: ${errorMessage(err)}`);
    }
    if (!reply.ok || fresh.isClosed) {
      this.#endPending(fresh, c.uid);
      return fresh.isClosed ? false : this.#refuse(fresh, reply.error);
    }
    fst.ring = new PushRing(this.#o.bufferMessages, this.#o.bufferBytes, reply.pushed);
    fst.epoch = c.epoch;
    // Until each node that pushed through the old gate fences it, that node's direct pushes wait here, so the
    // ones relayed by the old gate (sent earlier) are written first.
    if (reply.nodes.length > 0) {
      fst.awaiting = new Map(reply.nodes.map((nid) => [nid, []]));
      fst.awaitDeadlineMs = Date.now() + AWAIT_FENCE_MS;
    }
    const displaced = this.#d.sessions.indexUid(c.uid, fresh);
    if (displaced) {
      displaced.send({ type: 'session.displaced', code: CloseCode.DISPLACED, reason: 'resumed on another connection' });
    }
    this.counters.resumedRemote++;
    fresh.send({ type: 'session.resumed', uid: c.uid });
    this.#finish(fresh, reply.packets);
    for (const e of this.#endPending(fresh, c.uid)) {
      if (e.fence) {
        p.releaseHeld(fresh, e.nid);
        continue;
      }
      // Relayed by the old gate = sent before the node heard of the move: written now. A node's direct pushes
      // wait for its fence.
      const held = e.forwarded ? undefined : fst.awaiting?.get(e.nid);
      if (held) held.push(e);
      else p.deliver(fresh, e.packet, e.disconnect);
    }
    // The locator names this gate from now on; nodes that never pushed through the old gate learn it from here.
    this.#d.locator
      .bindGate(c.uid, this.#d.gid)
      .catch((err: unknown) =>
        this.#d.log.warn('locator bind after resume failed', { uid: c.uid, err: errorMessage(err) }),
      );
    return true;
  }

  /** The takeover is decided: stop collecting pushes for `fresh`; returns what it collected (dropped on failure). */
  #endPending(fresh: Session, uid: number): EarlyPush[] {
    if (this.#pendingUid.get(uid) === fresh) this.#pendingUid.delete(uid);
    const st = this.#p.state(fresh);
    const early = st.early ?? [];
    st.early = undefined;
    return early;
  }

  #finish(s: Session, missed: Uint8Array[]): void {
    this.#p.control(s, { type: 'resumed', uid: s.uid, replayed: missed.length });
    for (const packet of missed) s.conn.send(packet, 'push');
  }

  #refuse(fresh: Session, error: string): false {
    this.counters.refused++;
    this.#d.log.info('resume refused', { cid: fresh.cid, error });
    this.#p.control(fresh, { type: 'resumeFailed', error });
    return false;
  }

  /** Another gate takes over one of our suspended sessions: hand over the missed pushes and let go. */
  #handOver(t: Takeover): TakeoverReply {
    // Only the client's own token (signed by a gate with the shared secret) hands a session over.
    const v = verifyResumeToken(t.token, this.#o.secret, Date.now());
    const c = v.ok ? v.claims : undefined;
    if (c?.gid !== this.#d.gid || c.cid !== t.cid || c.uid !== t.uid || c.epoch !== t.epoch) {
      this.counters.takeoversRefused++;
      this.#d.log.warn('takeover refused: bad resume token', { cid: t.cid, uid: t.uid, by: t.gid });
      return { ok: false, error: 'takeover refused: bad resume token', packets: [], pushed: 0, nodes: [] };
    }
    const s = this.#d.sessions.byCid(t.cid);
    if (!s?.isSuspended || s.uid !== t.uid) {
      return { ok: false, error: 'session not resumable', packets: [], pushed: 0, nodes: [] };
    }
    const st = this.#p.state(s);
    if (st.epoch !== t.epoch) return { ok: false, error: 'stale token', packets: [], pushed: 0, nodes: [] };
    const ring = st.ring as PushRing;
    const missed = ring.since(t.seen);
    if (!missed) {
      return { ok: false, error: 'pushes lost (resume buffer overflowed)', packets: [], pushed: 0, nodes: [] };
    }
    this.counters.handedOver++;
    const nodes = [...(st.pushers ?? [])];
    s.send({ type: 'session.handedOver' });
    // Pushes still on their way here are forwarded to the new gate until every node that pushed has fenced.
    const until = Date.now() + MOVED_TTL_MS;
    this.#movedUid.set(t.uid, { gid: t.gid, until });
    this.#movedCid.set(t.cid, { gid: t.gid, uid: t.uid, until });
    for (const nid of nodes) this.#d.notifyMoved(nid, t.uid, t.gid);
    return { ok: true, error: '', packets: missed, pushed: ring.pushed, nodes };
  }

  /** A session whose takeover of `uid` is in flight. */
  pending(uid: number): Session | undefined {
    return this.#pendingUid.get(uid);
  }

  /** The new gate of a user (kind User) or connection (kind Conn) this gate handed over, while relaying. */
  movedTarget(kind: number, target: number): { gid: string; uid: number } | undefined {
    const now = Date.now();
    if (kind === 2) {
      const m = this.#movedUid.get(target);
      return m && m.until > now ? { gid: m.gid, uid: target } : undefined;
    }
    const m = this.#movedCid.get(target);
    return m && m.until > now ? { gid: m.gid, uid: m.uid } : undefined;
  }

  sweepMoved(now: number): void {
    for (const [k, m] of this.#movedUid) if (m.until <= now) this.#movedUid.delete(k);
    for (const [k, m] of this.#movedCid) if (m.until <= now) this.#movedCid.delete(k);
  }
}
