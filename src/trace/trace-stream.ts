import type { Bus, Subscription } from '../bus/bus.js';
import { TransitionCodec } from '../bus/envelope.js';
import { Subjects } from '../bus/subjects.js';
import { SessionFilter } from './session-filter.js';
import type { TransitionRecord } from './trace.js';

export interface TraceStreamOptions {
  bus: Bus;
  /** Bus subject prefix. Default "duet". */
  prefix?: string;
  /** Only this gate (subscribes to its subject alone); undefined = every gate. */
  gate?: string;
  /** 0 = any user; otherwise whole sessions of this user, connect records included (see SessionFilter). */
  uid?: number;
  /** 0 = any connection. */
  cid?: number;
}

/**
 * The live transition records of the cluster, decoded, filtered, in the order the bus delivers them (per gate:
 * the order they happened). Messages that are not a Transition are skipped and counted in `undecodable`.
 */
export class TraceStream implements AsyncIterable<TransitionRecord>, AsyncDisposable {
  readonly subject: string;
  undecodable = 0;
  readonly #sub: Subscription;
  readonly #filter: SessionFilter;

  private constructor(sub: Subscription, filter: SessionFilter) {
    this.subject = sub.subject;
    this.#sub = sub;
    this.#filter = filter;
  }

  /** Subscribes and resolves once the bus server has the subscription, so nothing published later is missed. */
  static async open(o: TraceStreamOptions): Promise<TraceStream> {
    const subjects = new Subjects(o.prefix);
    const sub = o.bus.subscribe(o.gate ? subjects.trace(o.gate) : subjects.traceAll());
    try {
      await o.bus.flush();
    } catch (err) {
      await sub.drain().catch(() => {});
      throw err;
    }
    return new TraceStream(sub, new SessionFilter({ uid: o.uid, cid: o.cid, gate: o.gate }));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TransitionRecord> {
    for await (const m of this.#sub) {
      let t: TransitionRecord;
      try {
        const d = TransitionCodec.decode(m.data);
        t = {
          ts: d.tsMs,
          gate: d.gate,
          cid: d.cid,
          uid: d.uid,
          from: d.from,
          to: d.to,
          event: d.event,
          reason: d.reason,
        };
      } catch {
        this.undecodable++;
        continue;
      }
      for (const r of this.#filter.accept(t)) yield r;
    }
  }

  /** Ends the iteration after what is already queued. Safe to call twice. */
  close(): Promise<void> {
    return this.#sub.drain();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One line: `time gate cid uid from → to event (reason)`; the reason part only when there is one. */
export function formatTransition(t: TransitionRecord): string {
  const reason = t.reason ? ` (${t.reason})` : '';
  return `${new Date(t.ts).toISOString()} ${t.gate} cid=${t.cid} uid=${t.uid} ${t.from} → ${t.to} ${t.event}${reason}`;
}

/** One JSON object per line, the record's fields plus an ISO time. */
export function formatTransitionJson(t: TransitionRecord): string {
  return JSON.stringify({
    time: new Date(t.ts).toISOString(),
    ts: t.ts,
    gate: t.gate,
    cid: t.cid,
    uid: t.uid,
    from: t.from,
    to: t.to,
    event: t.event,
    reason: t.reason,
  });
}
