import type { Batcher } from '../bus/batcher.js';
import { type GateOp, type Result, ResultCode, SessionKind } from '../bus/envelope.js';
import { CloseCode, DuetError, ErrorCode, errorMessage } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import { PreparedFrame } from '../network/prepared-frame.js';
import type { PacketCodec } from '../packet/codec.js';
import type { CaptureSink } from '../replay/capture-sink.js';
import type { GateCounters } from './counters.js';
import type { Dispatcher } from './dispatcher.js';
import { OpOrder } from './op-order.js';
import type { ResumeService } from './resume.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export interface OperationsDeps {
  gid: string;
  sessions: SessionTable;
  locator: Locator;
  codec: PacketCodec;
  dispatcher: Dispatcher;
  counters: GateCounters;
  log: Log;
  /** Results to reply subjects, batched per turn. */
  results: Batcher<Result>;
  /** Asks another gate to close the session holding `uid` there (cross-gate kick). */
  displaceRemote(gid: string, uid: number): void;
  /** Relays an op to another gate on behalf of node `nid` (resume handover). */
  forward(gid: string, nid: string, op: GateOp): void;
  capture: CaptureSink;
  resume: ResumeService;
}

type Outcome = Partial<Omit<Result, 'id'>>;
const OK: Outcome = {};
const EMPTY = new Uint8Array(0);
const NOT_FOUND: Outcome = { code: ResultCode.NOT_FOUND_SESSION, message: 'session not found' };

/** Who sent an op: the node, and whether another gate relayed it (resume handover, issue 11). */
interface Source {
  nid: string;
  forwarded: boolean;
}

/**
 * Serves the operations nodes send to this gate (DUE-REFERENCE 3.4, 3.6): bind, unbind, push, multicast,
 * broadcast, channels, disconnect, isOnline, stat, getIP. Ops are ordered per session, never across sessions
 * (op-order.ts, docs/ordering.md): only bind is asynchronous (the locator write), and it holds only its own
 * session's later ops.
 */
export class Operations {
  readonly #d: OperationsDeps;
  readonly #order: OpOrder;

  constructor(deps: OperationsDeps) {
    this.#d = deps;
    this.#order = new OpOrder({
      sessions: deps.sessions,
      pendingByUid: (uid) => deps.resume.pending(uid),
      onError: (err, cid) => {
        deps.counters.opErrors++;
        deps.log.error('gate operation failed unexpectedly', { cid, err: errorMessage(err) });
      },
    });
  }

  /** Sessions with an op pending (a bind in flight, and what waits behind it). */
  get pendingSessions(): number {
    return this.#order.size;
  }

  /** Resolves once no op is pending (graceful stop). */
  idle(): Promise<void> {
    return this.#order.idle();
  }

  /** Takes one op: runs it now, or behind the pending op of the session it targets. Never waits for other sessions. */
  handle(op: GateOp, reply: string, nid = '', forwarded = false): void {
    const src: Source = { nid, forwarded };
    this.#order.submit(op, () => this.#exec(op, reply, src));
  }

  /** Runs one op and answers it; a promise only when it is still in flight (bind). */
  #exec(op: GateOp, reply: string, src: Source): undefined | Promise<void> {
    try {
      const r = this.#run(op, src);
      if (r instanceof Promise) {
        return r.then(
          (o) => this.#answer(op, reply, o),
          (err: unknown) => this.#answer(op, reply, this.#failure(op, err)),
        );
      }
      this.#answer(op, reply, r);
    } catch (err) {
      this.#answer(op, reply, this.#failure(op, err));
    }
    return undefined;
  }

  #failure(op: GateOp, err: unknown): Outcome {
    this.#d.counters.opErrors++;
    this.#d.log.warn('gate operation failed', { op: Object.keys(op).find((k) => k !== 'id'), err: errorMessage(err) });
    const code =
      err instanceof DuetError && err.code === ErrorCode.UNAVAILABLE ? ResultCode.UNAVAILABLE : ResultCode.INTERNAL;
    return { code, message: errorMessage(err) };
  }

  #answer(op: GateOp, reply: string, o: Outcome): void {
    if (op.id === 0 || reply === '') return;
    const r: Result = {
      id: op.id,
      code: o.code ?? ResultCode.OK,
      message: o.message ?? '',
      total: o.total ?? 0,
      online: o.online ?? false,
      ip: o.ip ?? '',
      gid: this.#d.gid,
    };
    this.#d.results.add(reply, r, 32);
  }

  #target(kind: number, target: number): Session | undefined {
    const s =
      kind === SessionKind.USER
        ? (this.#d.sessions.byUid(target) ?? this.#d.resume.pending(target))
        : this.#d.sessions.byCid(target);
    return s && !s.isClosed ? s : undefined;
  }

  /** `frame`: the packet framed once for every session of a fan-out (src/network/prepared-frame.ts). */
  #write(s: Session, packet: Uint8Array, frame?: PreparedFrame): boolean {
    const isPush = this.#d.codec.seqOf(packet) === 0;
    if (isPush && s.ring && !this.#d.resume.recordPush(s, packet)) {
      // A suspended session missed more pushes than it may keep: it cannot be resumed without a gap.
      s.send({
        type: 'session.kicked',
        force: true,
        code: CloseCode.RESUME_OVERFLOW,
        reason: 'resume buffer overflow',
      });
      return false;
    }
    if (s.isSuspended) return true;
    const lane = isPush ? 'push' : 'response';
    const r = s.conn.send(frame ?? packet, lane);
    if (r === 'overflow') this.#d.counters.slowConsumers++;
    if (r === 'closed' || r === 'overflow') return false;
    this.#d.counters.framesOut++;
    this.#d.counters.bytesOut += packet.length;
    if (this.#d.capture.enabled) this.#d.capture.packet('out', this.#d.gid, s.cid, s.uid, packet);
    return true;
  }

  #pushTo(s: Session, packet: Uint8Array, disconnect: boolean, src: Source, frame?: PreparedFrame): boolean {
    if (s.early) {
      // Its takeover is still being decided: keep the push (with its node) until then.
      s.early.push({ nid: src.nid, forwarded: src.forwarded, packet, disconnect });
      return true;
    }
    if (s.ring && src.nid) {
      const held = src.forwarded ? undefined : s.awaiting?.get(src.nid);
      if (held) {
        // Sent after this node learnt of the move: wait until the pushes it sent the old gate are written.
        held.push({ packet, disconnect });
        return true;
      }
      if (!src.forwarded) {
        s.pushers ??= new Set();
        s.pushers.add(src.nid);
      }
    }
    return this.#deliver(s, packet, disconnect, frame);
  }

  /** Writes a push (ring numbering, lanes, capture), then closes the session gracefully when asked. */
  deliver(s: Session, packet: Uint8Array, disconnect: boolean): boolean {
    return this.#deliver(s, packet, disconnect);
  }

  #deliver(s: Session, packet: Uint8Array, disconnect: boolean, frame?: PreparedFrame): boolean {
    const ok = this.#write(s, packet, frame);
    // due ignores the flag on multicast (v2.5.8 bug); duet honours it everywhere.
    if (disconnect)
      s.send({ type: 'session.kicked', force: false, code: CloseCode.NORMAL, reason: 'disconnect after push' });
    return ok;
  }

  #run(op: GateOp, src: Source): Outcome | Promise<Outcome> {
    const d = this.#d;
    if (op.push) {
      const { kind, target, packet, disconnect } = op.push;
      const s = this.#target(kind, target);
      if (!s && this.#relay(kind, target, packet, disconnect, src)) return { total: 1 };
      if (!s) {
        d.counters.pushMissed++;
        // due: a push by uid that finds no session here deletes the stale user → gate key.
        if (kind === SessionKind.USER) d.locator.unbindGate(target, d.gid).catch(() => {});
        return NOT_FOUND;
      }
      return this.#pushTo(s, packet, disconnect, src) ? { total: 1 } : { total: 0 };
    }
    if (op.multicast) {
      const { kind, targets, packet, disconnect } = op.multicast;
      const frame = new PreparedFrame(packet);
      return this.#order.fanOut(
        targets,
        (t) => this.#order.targetKey(kind, t),
        (t) => {
          const s = this.#target(kind, t);
          return s ? this.#pushTo(s, packet, disconnect, src, frame) : this.#relay(kind, t, packet, disconnect, src);
        },
      );
    }
    if (op.broadcast) {
      const { kind, packet, disconnect } = op.broadcast;
      const users = kind === SessionKind.USER;
      // A copy (writes may close sessions); sessions whose bind is in flight count as bound, after it.
      const list = users ? [...d.sessions.bound(), ...this.#order.binding()] : [...d.sessions.all()];
      const frame = new PreparedFrame(packet);
      return this.#order.fanOut(
        list,
        (s) => s.cid,
        (s) =>
          (s.isActive || s.isSuspended) && (!users || s.uid !== 0) && this.#pushTo(s, packet, disconnect, src, frame),
      );
    }
    if (op.publish) {
      const { channel, packet, disconnect } = op.publish;
      const set = d.sessions.channel(channel);
      if (!set) return { total: 0 };
      const frame = new PreparedFrame(packet);
      return this.#order.fanOut(
        [...set],
        (s) => s.cid,
        (s) => !s.isClosed && this.#pushTo(s, packet, disconnect, src, frame),
      );
    }
    if (op.subscribe || op.unsubscribe) {
      const sub = op.subscribe ?? op.unsubscribe;
      if (!sub) return OK;
      const join = Boolean(op.subscribe); // absent oneof fields decode as null, not undefined
      return this.#order.fanOut(
        sub.targets,
        (t) => this.#order.targetKey(sub.kind, t),
        (t) => {
          const s = this.#target(sub.kind, t);
          if (!s) return false;
          if (join) d.sessions.subscribe(sub.channel, s);
          else d.sessions.unsubscribe(sub.channel, s);
          return true;
        },
      );
    }
    if (op.disconnect) {
      const { kind, target, force } = op.disconnect;
      const s = this.#target(kind, target);
      if (!s) return NOT_FOUND;
      if (op.disconnect.displaced) {
        s.send({ type: 'session.displaced', code: CloseCode.DISPLACED, reason: 'uid bound on another gate' });
      } else s.send({ type: 'session.kicked', force, code: CloseCode.KICKED, reason: 'kicked' });
      return OK;
    }
    if (op.isOnline) {
      return { online: this.#target(op.isOnline.kind, op.isOnline.target) !== undefined };
    }
    if (op.stat) {
      return { total: op.stat.kind === SessionKind.USER ? d.sessions.boundCount : d.sessions.size };
    }
    if (op.getIp) {
      const s = this.#target(op.getIp.kind, op.getIp.target);
      return s ? { ip: s.conn.remote } : NOT_FOUND;
    }
    if (op.unbind) {
      const s = op.unbind.cid ? d.sessions.byCid(op.unbind.cid) : d.sessions.byUid(op.unbind.uid);
      if (!s || s.isClosed || s.uid === 0) return NOT_FOUND;
      s.send({ type: 'node.unbound' });
      return OK;
    }
    if (op.fence) return this.#fence(op.fence.uid, src);
    if (op.bind) return this.#bind(op.bind.cid, op.bind.uid);
    return { code: ResultCode.ILLEGAL_ARGUMENT, message: 'unknown gate operation' };
  }

  /**
   * A push for a session this gate handed over: relay it to the new gate (the node had not heard of the move).
   * Returns false when the target did not move.
   */
  #relay(kind: number, target: number, packet: Uint8Array, disconnect: boolean, src: Source): boolean {
    const moved = this.#d.resume.movedTarget(kind, target);
    if (!moved) return false;
    this.#d.forward(moved.gid, src.nid, {
      id: 0,
      push: { kind: SessionKind.USER, target: moved.uid, packet, disconnect },
    });
    return true;
  }

  /**
   * A node's fence: sent to the old gate after its last push there, relayed to the new gate, where it releases the
   * pushes that node sent directly meanwhile.
   */
  #fence(uid: number, src: Source): Outcome {
    if (!src.forwarded) {
      const moved = this.#d.resume.movedTarget(SessionKind.USER, uid);
      if (moved) this.#d.forward(moved.gid, src.nid, { id: 0, fence: { uid } });
      return OK;
    }
    const s = this.#d.sessions.byUid(uid) ?? this.#d.resume.pending(uid);
    if (s?.early) s.early.push({ nid: src.nid, forwarded: true, fence: true, packet: EMPTY, disconnect: false });
    else if (s) this.releaseHeld(s, src.nid);
    return OK;
  }

  /** Writes what a node sent directly while its fence was awaited (all nodes when `nid` is undefined). */
  releaseHeld(s: Session, nid?: string): void {
    const awaiting = s.awaiting;
    if (!awaiting) return;
    for (const [n, held] of awaiting) {
      if (nid !== undefined && n !== nid) continue;
      awaiting.delete(n);
      for (const h of held) this.#deliver(s, h.packet, h.disconnect);
    }
    if (awaiting.size === 0) s.awaiting = undefined;
  }

  /** Sweep: fences that never came (a node died) stop holding pushes after the deadline. */
  releaseStale(now: number): void {
    for (const s of [...this.#d.sessions.bound()]) {
      if (s.awaiting && s.awaitDeadlineMs <= now) this.releaseHeld(s);
    }
  }

  /** due Bind, plus the fixes: the displaced session (this gate or another) is closed, not just unbound (due#90). */
  async #bind(cid: number, uid: number): Promise<Outcome> {
    const d = this.#d;
    if (!Number.isSafeInteger(uid) || uid === 0) {
      return { code: ResultCode.ILLEGAL_ARGUMENT, message: `uid must be a non-zero safe integer, got ${uid}` };
    }
    const s = d.sessions.byCid(cid);
    if (!s?.isActive) return NOT_FOUND;
    if (s.uid === uid) return OK;
    // One locator call: the previous gate comes back with the write (a lookup first was a second round trip).
    const previousGate = await d.locator.bindGate(uid, d.gid);
    if (!s.isActive) {
      // Closed while we waited: give the uid back.
      await d.locator.unbindGate(uid, d.gid).catch(() => {});
      return NOT_FOUND;
    }
    const displaced = d.sessions.indexUid(uid, s);
    s.send({ type: 'node.bound', uid });
    if (displaced) {
      displaced.send({
        type: 'session.displaced',
        code: CloseCode.DISPLACED,
        reason: `uid bound again by cid ${cid}`,
      });
    }
    if (previousGate !== undefined && previousGate !== d.gid) d.displaceRemote(previousGate, uid);
    return OK;
  }
}
