import { type GateOp, SessionKind } from '../bus/envelope.js';
import { KeyedQueue } from '../keyed-queue.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export interface OpOrderDeps {
  sessions: SessionTable;
  /** A session whose resume takeover of `uid` is in flight (ops by uid reach it). */
  pendingByUid(uid: number): Session | undefined;
  onError(err: unknown, cid: number): void;
}

type Outcome = { total: number };

/**
 * Which gate operations wait for which (docs/ordering.md): ops are ordered per session (keyed by its cid), never
 * across sessions. An op for one session, by cid or by uid, runs behind that session's pending op only; a uid that
 * a bind has claimed (enqueued, not yet settled) belongs to the binding session. An op over many sessions
 * (multicast, broadcast, publish, channel changes) runs at once for idle sessions and queues its part for each
 * busy one. While nothing is pending (the common case) every op runs at once, without a key lookup.
 */
export class OpOrder {
  readonly #d: OpOrderDeps;
  readonly #queue: KeyedQueue<number>;
  /** uid → the bind that claims it: ops by that uid follow the bind. */
  readonly #binds = new Map<number, { cid: number; done: Promise<void> }>();

  constructor(d: OpOrderDeps) {
    this.#d = d;
    this.#queue = new KeyedQueue<number>({ onError: d.onError });
  }

  /** Sessions with a pending op. */
  get size(): number {
    return this.#queue.size;
  }

  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Runs `exec` (the op) now, or behind the pending op of the session it targets. */
  submit(op: GateOp, exec: () => undefined | Promise<void>): void {
    if (op.bind) {
      this.#bind(op.bind.cid, op.bind.uid, exec);
      return;
    }
    if (this.#queue.size === 0) {
      exec();
      return;
    }
    const key = this.#keyOf(op);
    if (key === undefined) exec();
    else this.#queue.run(key, exec);
  }

  /** The session an op is ordered with, or undefined when it is not a one-session op or nothing claims it. */
  #keyOf(op: GateOp): number | undefined {
    const single = op.push ?? op.disconnect ?? op.isOnline ?? op.getIp;
    if (single) return this.targetKey(single.kind, single.target);
    if (op.unbind) return op.unbind.cid ? op.unbind.cid : this.#uidKey(op.unbind.uid);
    if (op.fence) return this.#uidKey(op.fence.uid);
    return undefined;
  }

  targetKey(kind: number, target: number): number | undefined {
    return kind === SessionKind.USER ? this.#uidKey(target) : target;
  }

  #uidKey(uid: number): number | undefined {
    const bind = this.#binds.get(uid);
    if (bind) return bind.cid;
    return (this.#d.sessions.byUid(uid) ?? this.#d.pendingByUid(uid))?.cid;
  }

  /**
   * A bind claims its uid at once: ops by that uid that arrive after it wait for it, and a second bind of the same
   * uid from another session waits for the first, so the later bind wins, as when ops ran one by one. (A task only
   * ever waits for tasks submitted before it, so these waits cannot form a cycle.)
   */
  #bind(cid: number, uid: number, exec: () => undefined | Promise<void>): void {
    const prev = this.#binds.get(uid);
    let settle!: () => void;
    const claim = { cid, done: new Promise<void>((r) => (settle = r)) };
    this.#binds.set(uid, claim);
    const run = (): Promise<void> =>
      (exec() ?? Promise.resolve()).finally(() => {
        if (this.#binds.get(uid) === claim) this.#binds.delete(uid);
        settle();
      });
    this.#queue.run(cid, prev && prev.cid !== cid ? () => prev.done.then(run) : run);
  }

  /**
   * An op over many items (sessions or targets): written now for each idle one, queued behind the pending op of
   * each busy one (so a push never overtakes the bind before it). `total` counts both.
   */
  fanOut<T>(
    items: Iterable<T>,
    keyOf: (t: T) => number | undefined,
    write: (t: T) => boolean,
  ): Outcome | Promise<Outcome> {
    let total = 0;
    let later: Promise<boolean>[] | undefined;
    const queue = this.#queue;
    const anyBusy = queue.size > 0;
    for (const t of items) {
      const key = anyBusy ? keyOf(t) : undefined;
      if (key !== undefined && queue.isBusy(key)) {
        later ??= [];
        later.push(
          new Promise<boolean>((resolve) => {
            queue.run(key, () => {
              let ok = false;
              try {
                ok = write(t);
              } finally {
                resolve(ok);
              }
            });
          }),
        );
      } else if (write(t)) total++;
    }
    if (!later) return { total };
    return Promise.all(later).then((oks) => ({ total: total + oks.filter(Boolean).length }));
  }

  /** Sessions whose bind is in flight and that are not bound yet (a broadcast to users reaches them after it). */
  binding(): Session[] {
    const out = new Set<Session>();
    for (const { cid } of this.#binds.values()) {
      const s = this.#d.sessions.byCid(cid);
      if (s && s.uid === 0) out.add(s);
    }
    return [...out];
  }
}
