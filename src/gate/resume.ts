import type { Bus } from '../bus/bus.js';
import { SessionKind } from '../bus/envelope.js';
import type { Subjects } from '../bus/subjects.js';
import { CloseCode } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import type { PreparedFrame } from '../network/prepared-frame.js';
import type { Connection, ConnectionHandler } from '../network/transport.js';
import type { PacketCodec } from '../packet/codec.js';
import type { GateCounters } from './counters.js';
import type { FrameHandler } from './frames.js';
import type { GateHooks, OpSource } from './hooks.js';
import { PushRing } from './push-ring.js';
import type { PushWriter } from './push-writer.js';
import { ResumeFrames } from './resume-frames.js';
import { type ResumeCounters, ResumeTakeover } from './resume-takeover.js';

import { signResumeToken } from './resume-token.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export type { ResumeCounters } from './resume-takeover.js';

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
  counters: GateCounters;
  writer: PushWriter;
  /** How long a takeover request to another gate may take (cluster.gate.callTimeout). */
  callTimeoutMs: number;
  /** Tells node `nid` that user `uid` moved to gate `gid` (a Moved item in its stream). */
  notifyMoved(nid: string, uid: number, gid: string): void;
  /** Relays a push or fence to another gate on behalf of node `nid` (after a handover). */
  forward(gid: string, nid: string, op: { push?: RelayedPush; fence?: { uid: number } }): void;
}

export interface RelayedPush {
  kind: number;
  target: number;
  packet: Uint8Array;
  disconnect: boolean;
}

/** A push that reached this gate while a takeover was being decided, or a fence. */
export interface EarlyPush {
  nid: string;
  forwarded: boolean;
  fence?: boolean;
  packet: Uint8Array;
  disconnect: boolean;
}

/** What resume keeps per session (Session itself knows nothing of resume). */
export interface ResumeState {
  /** Recent pushes, numbered: replayed on resume. */
  ring: PushRing | undefined;
  /** The token epoch: a newer token makes older ones stale. */
  epoch: number;
  suspendDeadlineMs: number;
  /** Nodes that pushed to this session (a handover tells them where it went). */
  pushers: Set<string> | undefined;
  /** After a takeover: direct pushes per node, held until that node's fence arrives through the old gate. */
  awaiting: Map<string, { packet: Uint8Array; disconnect: boolean }[]> | undefined;
  awaitDeadlineMs: number;
  /** While this (new) session's takeover request is in flight: pushes that already reached this gate. */
  early: EarlyPush[] | undefined;
  /** Frames that arrived while a resume request was being decided (handshake). */
  held: Uint8Array[] | undefined;
}

/** What a suspended session holds instead of its lost connection. */
function detached(c: Connection): Connection {
  const { cid, remote, bytesIn, bytesOut } = c;
  return {
    cid,
    remote,
    bytesIn,
    bytesOut,
    send: () => 'closed',
    close: async () => {},
    terminate: () => {},
    pauseReading: () => {},
    resumeReading: () => {},
    bufferedBytes: 0,
  };
}

const enc = new TextEncoder();

/**
 * Resumable sessions as one gate feature: it plugs into the gate's hooks (hooks.ts) and owns every bit
 * of resume state and ordering: tokens on bind, push numbering, suspension, the first-frame decision, takeovers
 * (resume-takeover.ts) and the fence / early / awaiting order of pushes after a handover. Control messages travel on
 * a reserved route with JSON bodies: gate → client `{"type":"token","token":…}`, `{"type":"resumed",…}`,
 * `{"type":"resumeFailed","error":…}`; client → gate `{"type":"resume","token":…,"seen":N}`.
 */
export class ResumeService implements GateHooks {
  readonly resumable = true;
  readonly o: ResumeOptions;
  readonly #d: ResumeDeps;
  readonly #state = new WeakMap<Session, ResumeState>();
  readonly #takeover: ResumeTakeover;

  constructor(o: ResumeOptions, d: ResumeDeps) {
    this.o = o;
    this.#d = d;
    // Fails at construction (not on the first bind) when the route does not fit packet.routeBytes.
    d.codec.encode({ route: o.route, seq: 0 });
    this.#takeover = new ResumeTakeover(o, d, {
      state: (s) => this.state(s),
      control: (s, body) => this.control(s, body),
      releaseHeld: (s, nid) => this.releaseHeld(s, nid),
      deliver: (s, packet, disconnect) => this.deliver(s, packet, disconnect),
    });
  }

  get counters(): ResumeCounters {
    return this.#takeover.counters;
  }

  get sweepEveryMs(): number {
    return Math.max(10, Math.min(1000, this.o.windowMs / 10));
  }

  /** The session's resume state (created on first use). */
  state(s: Session): ResumeState {
    let st = this.#state.get(s);
    if (!st) {
      st = {
        ring: undefined,
        epoch: 0,
        suspendDeadlineMs: 0,
        pushers: undefined,
        awaiting: undefined,
        awaitDeadlineMs: 0,
        early: undefined,
        held: undefined,
      };
      this.#state.set(s, st);
    }
    return st;
  }

  /** The session's current token epoch (0 before its first token). */
  epoch(s: Session): number {
    return this.#state.get(s)?.epoch ?? 0;
  }

  /** Resume state only if the session already has some (never creates it). */
  peek(s: Session): ResumeState | undefined {
    return this.#state.get(s);
  }

  frames(inner: FrameHandler): ConnectionHandler {
    return new ResumeFrames(inner, this.o.route, this.#d.sessions, this.#d.codec, this.#d.counters, this.#d.log, {
      state: (s) => this.state(s),
      peek: (s) => this.peek(s),
      parseRequest: (route, body) => this.#takeover.parseRequest(route, body),
      resume: (s, req) => this.#takeover.resume(s, req),
    });
  }

  start(): void {
    this.#takeover.start();
  }

  stop(): Promise<void> {
    return this.#takeover.stop();
  }

  control(s: Session, body: Record<string, unknown>): void {
    const packet = this.#d.codec.encode({ route: this.o.route, seq: 0, body: enc.encode(JSON.stringify(body)) });
    s.conn.send(packet, 'control');
  }

  /** After a bind or a resume: a fresh token (new epoch); the ring starts if it did not exist. */
  bound(s: Session): void {
    if (s.uid === 0) return;
    const st = this.state(s);
    st.ring ??= new PushRing(this.o.bufferMessages, this.o.bufferBytes);
    st.epoch++;
    const exp = Date.now() + (this.o.tokenTtlMs ?? 24 * 3600_000);
    const token = signResumeToken({ gid: this.#d.gid, cid: s.cid, uid: s.uid, epoch: st.epoch, exp }, this.o.secret);
    this.counters.offered++;
    this.control(s, { type: 'token', token, windowMs: this.o.windowMs });
  }

  /** The machine suspended the session: start its window and let the dead socket's objects go. */
  suspended(s: Session): void {
    this.state(s).suspendDeadlineMs = Date.now() + this.o.windowMs;
    this.#d.sessions.detachConn(s.conn.cid, s);
    s.conn = detached(s.conn);
  }

  /** A node's push: kept while a takeover is decided or a fence awaited, numbered in the ring, written if live. */
  push(s: Session, packet: Uint8Array, disconnect: boolean, src: OpSource, frame?: PreparedFrame): boolean {
    const st = this.#state.get(s);
    if (st?.early) {
      // Its takeover is still being decided: keep the push (with its node) until then.
      st.early.push({ nid: src.nid, forwarded: src.forwarded, packet, disconnect });
      return true;
    }
    if (st?.ring && src.nid) {
      const held = src.forwarded ? undefined : st.awaiting?.get(src.nid);
      if (held) {
        // Sent after this node learnt of the move: wait until the pushes it sent the old gate are written.
        held.push({ packet, disconnect });
        return true;
      }
      if (!src.forwarded) {
        st.pushers ??= new Set();
        st.pushers.add(src.nid);
      }
    }
    return this.deliver(s, packet, disconnect, frame);
  }

  /** Numbers a push in the ring (kept while suspended), writes it if the session is live, then the close if asked. */
  deliver(s: Session, packet: Uint8Array, disconnect: boolean, frame?: PreparedFrame): boolean {
    const w = this.#d.writer;
    const isPush = w.isPush(packet);
    const ring = this.#state.get(s)?.ring;
    let ok = true;
    if (isPush && ring) {
      ring.add(packet, s.isSuspended);
      if (ring.overflowed) {
        // A suspended session missed more pushes than it may keep: it cannot be resumed without a gap.
        this.counters.overflowed++;
        s.send({
          type: 'session.kicked',
          force: true,
          code: CloseCode.RESUME_OVERFLOW,
          reason: 'resume buffer overflow',
        });
        ok = false;
      }
    }
    if (ok && !s.isSuspended) ok = w.write(s, packet, isPush, frame);
    if (disconnect) w.closeAfter(s);
    return ok;
  }

  pendingByUid(uid: number): Session | undefined {
    return this.#takeover.pending(uid);
  }

  /** A push for a session this gate handed over: relay it to the new gate (the node had not heard of the move). */
  relay(kind: number, target: number, packet: Uint8Array, disconnect: boolean, src: OpSource): boolean {
    const moved = this.#takeover.movedTarget(kind, target);
    if (!moved) return false;
    this.#d.forward(moved.gid, src.nid, { push: { kind: SessionKind.USER, target: moved.uid, packet, disconnect } });
    return true;
  }

  /**
   * A node's fence: sent to the old gate after its last push there, relayed to the new gate, where it releases the
   * pushes that node sent directly meanwhile.
   */
  fence(uid: number, src: OpSource): void {
    if (!src.forwarded) {
      const moved = this.#takeover.movedTarget(SessionKind.USER, uid);
      if (moved) this.#d.forward(moved.gid, src.nid, { fence: { uid } });
      return;
    }
    const s = this.#d.sessions.byUid(uid) ?? this.#takeover.pending(uid);
    if (!s) return;
    const st = this.#state.get(s);
    if (st?.early)
      st.early.push({ nid: src.nid, forwarded: true, fence: true, packet: new Uint8Array(0), disconnect: false });
    else this.releaseHeld(s, src.nid);
  }

  /** Writes what a node sent directly while its fence was awaited (all nodes when `nid` is undefined). */
  releaseHeld(s: Session, nid?: string): void {
    const st = this.#state.get(s);
    const awaiting = st?.awaiting;
    if (!st || !awaiting) return;
    for (const [n, held] of awaiting) {
      if (nid !== undefined && n !== nid) continue;
      awaiting.delete(n);
      for (const h of held) this.deliver(s, h.packet, h.disconnect);
    }
    if (awaiting.size === 0) st.awaiting = undefined;
  }

  /** The gate-wide sweep: fences that never came stop holding pushes; suspended sessions past their window end. */
  sweep(now: number): void {
    for (const s of [...this.#d.sessions.bound()]) {
      const st = this.#state.get(s);
      if (st?.awaiting && st.awaitDeadlineMs <= now) this.releaseHeld(s);
    }
    this.#takeover.sweepMoved(now);
    for (const s of [...this.#d.sessions.all()]) {
      if (s.isSuspended && (this.#state.get(s)?.suspendDeadlineMs ?? 0) <= now) {
        this.counters.expired++;
        s.send({ type: 'suspend.expired' });
      }
    }
  }
}
