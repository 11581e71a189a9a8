import type { Batcher } from '../bus/batcher.js';
import { type GateOp, type Result, ResultCode, SessionKind } from '../bus/envelope.js';
import { CloseCode, DuetError, ErrorCode, errorMessage } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import { PreparedFrame } from '../network/prepared-frame.js';
import type { GateCounters } from './counters.js';
import type { Dispatcher } from './dispatcher.js';
import type { GateHooks, OpSource } from './hooks.js';
import { OpOrder } from './op-order.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export interface OperationsDeps {
  gid: string;
  sessions: SessionTable;
  locator: Locator;
  dispatcher: Dispatcher;
  counters: GateCounters;
  log: Log;
  /** Results to reply subjects, batched per turn. */
  results: Batcher<Result>;
  /** Asks another gate to close the session holding `uid` there (cross-gate kick). */
  displaceRemote(gid: string, uid: number): void;
  /** Where features (resume) plug into pushes and lookups (hooks.ts). */
  hooks: GateHooks;
}

type Outcome = Partial<Omit<Result, 'id'>>;
const OK: Outcome = {};
const NOT_FOUND: Outcome = { code: ResultCode.NOT_FOUND_SESSION, message: 'session not found' };

/**
 * Serves the operations nodes send to this gate: bind, unbind, push, multicast,
 * broadcast, channels, disconnect, isOnline, stat, getIP. Ops are ordered per session, never across sessions
 * (op-order.ts, docs/ordering.md): only bind is asynchronous (the locator write), and it holds only its own
 * session's later ops.
 */
export class Operations {
  readonly #d: OperationsDeps;
  readonly #hooks: GateHooks;
  readonly #order: OpOrder;

  constructor(deps: OperationsDeps) {
    this.#d = deps;
    this.#hooks = deps.hooks;
    this.#order = new OpOrder({
      sessions: deps.sessions,
      pendingByUid: (uid) => deps.hooks.pendingByUid(uid),
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
    const src: OpSource = { nid, forwarded };
    this.#order.submit(op, () => this.#exec(op, reply, src));
  }

  /** Runs one op and answers it; a promise only when it is still in flight (bind). */
  #exec(op: GateOp, reply: string, src: OpSource): undefined | Promise<void> {
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
        ? (this.#d.sessions.byUid(target) ?? this.#hooks.pendingByUid(target))
        : this.#d.sessions.byCid(target);
    return s && !s.isClosed ? s : undefined;
  }

  #run(op: GateOp, src: OpSource): Outcome | Promise<Outcome> {
    const d = this.#d;
    if (op.push) {
      const { kind, target, packet, disconnect } = op.push;
      const s = this.#target(kind, target);
      if (!s && this.#hooks.relay(kind, target, packet, disconnect, src)) return { total: 1 };
      if (!s) {
        d.counters.pushMissed++;
        // due: a push by uid that finds no session here deletes the stale user → gate key.
        if (kind === SessionKind.USER) d.locator.unbindGate(target, d.gid).catch(() => {});
        return NOT_FOUND;
      }
      return this.#hooks.push(s, packet, disconnect, src) ? { total: 1 } : { total: 0 };
    }
    if (op.multicast) {
      const { kind, targets, packet, disconnect } = op.multicast;
      const frame = new PreparedFrame(packet);
      return this.#order.fanOut(
        targets,
        (t) => this.#order.targetKey(kind, t),
        (t) => {
          const s = this.#target(kind, t);
          return s
            ? this.#hooks.push(s, packet, disconnect, src, frame)
            : this.#hooks.relay(kind, t, packet, disconnect, src);
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
          (s.isActive || s.isSuspended) &&
          (!users || s.uid !== 0) &&
          this.#hooks.push(s, packet, disconnect, src, frame),
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
        (s) => !s.isClosed && this.#hooks.push(s, packet, disconnect, src, frame),
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
    if (op.fence) {
      this.#hooks.fence(op.fence.uid, src);
      return OK;
    }
    if (op.bind) return this.#bind(op.bind.cid, op.bind.uid);
    return { code: ResultCode.ILLEGAL_ARGUMENT, message: 'unknown gate operation' };
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
