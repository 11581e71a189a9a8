import type { Bus, Subscription } from '../bus/bus.js';
import { TakeoverCodec, type TakeoverReply, TakeoverReplyCodec } from '../bus/envelope.js';
import type { Subjects } from '../bus/subjects.js';
import { errorMessage } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import type { PacketCodec } from '../packet/codec.js';
import { PushRing } from './push-ring.js';
import { signResumeToken, verifyResumeToken } from './resume-token.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export interface ResumeOptions {
  /** How long a lost session waits for its client (0 = off: due's behaviour and wire). */
  windowMs: number;
  bufferMessages: number;
  bufferBytes: number;
  /** Reserved route of the control messages (JSON bodies, seq 0). */
  route: number;
  /** HMAC key; gates that resume each other's sessions share it. */
  secret: string;
  /** How long a resume token stays valid after it was issued. Default 24 h. */
  tokenTtlMs?: number;
}

export interface ResumeDeps {
  gid: string;
  bus: Bus;
  subjects: Subjects;
  locator: Locator;
  sessions: SessionTable;
  codec: PacketCodec;
  log: Log;
}

const TAKEOVER_TIMEOUT_MS = 2000;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Counters for metrics and tests. */
export interface ResumeCounters {
  offered: number;
  resumedLocal: number;
  resumedRemote: number;
  refused: number;
  handedOver: number;
  expired: number;
  overflowed: number;
}

/**
 * Resumable sessions (issue 11): tokens on bind, push numbering, suspension, and resume on this gate or by takeover
 * from another gate over the bus. Control messages travel on a reserved route with JSON bodies:
 * gate → client `{"type":"token","token":…}`, `{"type":"resumed","uid":…,"replayed":…}`,
 * `{"type":"resumeFailed","error":…}`; client → gate `{"type":"resume","token":…,"seen":N}`.
 */
export class ResumeService {
  readonly o: ResumeOptions;
  readonly #d: ResumeDeps;
  readonly counters: ResumeCounters = {
    offered: 0,
    resumedLocal: 0,
    resumedRemote: 0,
    refused: 0,
    handedOver: 0,
    expired: 0,
    overflowed: 0,
  };
  #sub: Subscription | undefined;

  constructor(o: ResumeOptions, d: ResumeDeps) {
    this.o = o;
    this.#d = d;
    // Fails at construction (not on the first bind) when the route does not fit packet.routeBytes.
    d.codec.encode({ route: o.route, seq: 0 });
  }

  get isEnabled(): boolean {
    return this.o.windowMs > 0;
  }

  /** Serves takeover requests from other gates. */
  start(): void {
    if (!this.isEnabled) return;
    const sub = this.#d.bus.subscribe(this.#d.subjects.gateTakeover(this.#d.gid));
    this.#sub = sub;
    void (async () => {
      for await (const msg of sub) {
        let reply: TakeoverReply;
        try {
          reply = this.#handOver(TakeoverCodec.decode(msg.data));
        } catch (err) {
          reply = { ok: false, error: errorMessage(err), packets: [], pushed: 0 };
        }
        msg.respond(TakeoverReplyCodec.encode(reply));
      }
    })().catch((err: unknown) => this.#d.log.warn('takeover loop ended', { err: errorMessage(err) }));
  }

  async stop(): Promise<void> {
    await this.#sub?.drain();
  }

  #control(s: Session, body: Record<string, unknown>): void {
    const packet = this.#d.codec.encode({ route: this.o.route, seq: 0, body: enc.encode(JSON.stringify(body)) });
    s.conn.send(packet, 'control');
  }

  /** After a bind or a resume: a fresh token (new epoch); the ring starts if it did not exist. */
  offer(s: Session): void {
    if (!this.isEnabled || s.uid === 0) return;
    s.ring ??= new PushRing(this.o.bufferMessages, this.o.bufferBytes);
    s.epoch++;
    const exp = Date.now() + (this.o.tokenTtlMs ?? 24 * 3600_000);
    const token = signResumeToken({ gid: this.#d.gid, cid: s.cid, uid: s.uid, epoch: s.epoch, exp }, this.o.secret);
    this.counters.offered++;
    this.#control(s, { type: 'token', token, windowMs: this.o.windowMs });
  }

  /** Is this frame a resume request (a data packet on the reserved route)? Returns its parsed body. */
  parseRequest(route: number, body: Uint8Array): { token: unknown; seen: number } | undefined {
    if (!this.isEnabled || route !== this.o.route) return undefined;
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
    const v = verifyResumeToken(req.token, this.o.secret, Date.now());
    if (!v.ok) return this.#refuse(fresh, v.error);
    const c = v.claims;
    if (c.gid === this.#d.gid) {
      const old = this.#d.sessions.byCid(c.cid);
      if (!old || !old.isSuspended || old.uid !== c.uid) return this.#refuse(fresh, 'session not resumable');
      if (old.epoch !== c.epoch) return this.#refuse(fresh, 'stale token');
      const missed = old.ring?.since(req.seen);
      if (!missed) return this.#refuse(fresh, 'pushes lost (resume buffer overflowed)');
      const sessions = this.#d.sessions;
      sessions.remove(fresh);
      old.conn = fresh.conn;
      old.lastSeenMs = Date.now();
      sessions.attachConn(fresh.conn.cid, old);
      old.held = fresh.held;
      this.counters.resumedLocal++;
      old.send({ type: 'session.resumed' });
      this.#finish(old, missed);
      return true;
    }
    let reply: TakeoverReply;
    try {
      const data = TakeoverCodec.encode({ cid: c.cid, uid: c.uid, epoch: c.epoch, seen: req.seen, gid: this.#d.gid });
      const bytes = await this.#d.bus.request(this.#d.subjects.gateTakeover(c.gid), data, {
        timeoutMs: TAKEOVER_TIMEOUT_MS,
      });
      reply = TakeoverReplyCodec.decode(bytes);
    } catch (err) {
      return this.#refuse(fresh, `gate ${c.gid} unreachable: ${errorMessage(err)}`);
    }
    if (!reply.ok) return this.#refuse(fresh, reply.error);
    if (fresh.isClosed) return false;
    try {
      await this.#d.locator.bindGate(c.uid, this.#d.gid);
    } catch (err) {
      return this.#refuse(fresh, `locator: ${errorMessage(err)}`);
    }
    fresh.ring = new PushRing(this.o.bufferMessages, this.o.bufferBytes, reply.pushed);
    fresh.epoch = c.epoch;
    const displaced = this.#d.sessions.indexUid(c.uid, fresh);
    if (displaced) displaced.send({ type: 'session.displaced', code: 4003, reason: 'resumed on another connection' });
    this.counters.resumedRemote++;
    fresh.send({ type: 'session.resumed', uid: c.uid });
    this.#finish(fresh, reply.packets);
    return true;
  }

  #finish(s: Session, missed: Uint8Array[]): void {
    this.#control(s, { type: 'resumed', uid: s.uid, replayed: missed.length });
    for (const p of missed) s.conn.send(p, 'push');
  }

  #refuse(fresh: Session, error: string): false {
    this.counters.refused++;
    this.#d.log.info('resume refused', { cid: fresh.cid, error });
    this.#control(fresh, { type: 'resumeFailed', error });
    return false;
  }

  /** Another gate takes over one of our suspended sessions: hand over the missed pushes and let go. */
  #handOver(t: { cid: number; uid: number; epoch: number; seen: number }): TakeoverReply {
    const s = this.#d.sessions.byCid(t.cid);
    if (!s || !s.isSuspended || s.uid !== t.uid)
      return { ok: false, error: 'session not resumable', packets: [], pushed: 0 };
    if (s.epoch !== t.epoch) return { ok: false, error: 'stale token', packets: [], pushed: 0 };
    const ring = s.ring as PushRing;
    const missed = ring.since(t.seen);
    if (!missed) return { ok: false, error: 'pushes lost (resume buffer overflowed)', packets: [], pushed: 0 };
    this.counters.handedOver++;
    s.send({ type: 'session.handedOver' });
    return { ok: true, error: '', packets: missed, pushed: ring.pushed };
  }

  /** A push written (or, while suspended, kept) for a resumable session; false when the ring overflowed. */
  recordPush(s: Session, packet: Uint8Array): boolean {
    const ring = s.ring;
    if (!ring) return true;
    ring.add(packet, s.isSuspended);
    if (ring.overflowed) {
      this.counters.overflowed++;
      return false;
    }
    return true;
  }

  /** Part of the gate-wide sweep: suspended sessions past their window end. */
  sweep(now: number): void {
    for (const s of [...this.#d.sessions.all()]) {
      if (s.isSuspended && s.suspendDeadlineMs <= now) {
        this.counters.expired++;
        s.send({ type: 'suspend.expired' });
      }
    }
  }
}
