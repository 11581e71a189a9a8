import { decodeJson, encodeJson, isAdminReply } from '../admin/replies.js';
import type { Bus, Subscription } from '../bus/bus.js';
import { TransitionCodec } from '../bus/envelope.js';
import { Subjects } from '../bus/subjects.js';
import { errorMessage } from '../errors.js';
import { type Log, silentLog } from '../log/types.js';
import { SessionFilter } from './session-filter.js';
import { nullTraceSink, type TraceSink, type TransitionRecord } from './trace.js';

/** A tracer renews well within this; a gate forgets a lease this long after its last renewal. */
export const DEFAULT_TRACE_LEASE_MS = 3_000;
/** Shortest and longest lease a gate accepts (a shorter one would flood the control subject). */
const MIN_LEASE_MS = 200;
const MAX_LEASE_MS = 60_000;
/** Leases one gate holds at once; more are refused (answered with `refused`). */
const MAX_LEASES = 64;

interface Lease {
  filter: SessionFilter;
  /** Sampling threshold on a 32-bit hash; 2^32 keeps everything. */
  threshold: number;
  seed: number;
  expiresAt: number;
}

export interface TraceLeasesOptions {
  bus: Bus;
  prefix?: string;
  gid: string;
  name?: string;
  /** The `[trace] enabled = true` sink; when it is on, leases are acknowledged but publish nothing more. */
  always?: TraceSink;
  log?: Log;
  now?: () => number;
}

/**
 * The gate's trace sink: off (one field read per transition) until a tracer holds a lease on
 * `{prefix}.trace.control`, then publishes the transitions its filter keeps on `{prefix}.trace.session.{gid}`, and
 * off again once every lease lapsed (a killed tracer stops renewing). start() subscribes, close() unsubscribes.
 */
export class TraceLeases implements TraceSink {
  enabled: boolean;
  readonly #o: TraceLeasesOptions;
  readonly #always: TraceSink;
  readonly #subjects: Subjects;
  readonly #subject: string;
  readonly #leases = new Map<string, Lease>();
  readonly #log: Log;
  readonly #now: () => number;
  #sub: Subscription | undefined;
  #reading: Promise<void> | undefined;
  #sweep: NodeJS.Timeout | undefined;
  /** Control messages that were not a lease (bad JSON, bad reply subject). */
  rejected = 0;

  constructor(o: TraceLeasesOptions) {
    this.#o = o;
    this.#always = o.always ?? nullTraceSink;
    this.enabled = this.#always.enabled;
    this.#subjects = new Subjects(o.prefix);
    this.#subject = this.#subjects.trace(o.gid);
    this.#log = o.log ?? silentLog;
    this.#now = o.now ?? Date.now;
  }

  get leaseCount(): number {
    return this.#leases.size;
  }

  async start(): Promise<void> {
    if (this.#sub) return;
    const sub = this.#o.bus.subscribe(this.#subjects.traceControl());
    this.#sub = sub;
    this.#reading = (async () => {
      for await (const m of sub) this.#control(m.data);
    })();
    await this.#o.bus.flush();
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#leases.clear();
    this.enabled = this.#always.enabled;
    await this.#sub?.drain();
    await this.#reading;
  }

  record(t: TransitionRecord): void {
    if (this.#always.enabled) {
      this.#always.record(t);
      return;
    }
    let out: Set<TransitionRecord> | undefined;
    for (const l of this.#leases.values()) {
      if (l.threshold < 2 ** 32 && Math.imul((t.cid ^ l.seed) >>> 0, 0x9e3779b1) >>> 0 >= l.threshold) continue;
      for (const r of l.filter.accept(t)) {
        out ??= new Set();
        out.add(r);
      }
    }
    if (out) for (const r of out) this.#publish(r);
  }

  #publish(t: TransitionRecord): void {
    this.#o.bus.publish(
      this.#subject,
      TransitionCodec.encode({
        tsMs: t.ts,
        gate: t.gate,
        cid: t.cid,
        uid: t.uid,
        from: t.from,
        to: t.to,
        event: t.event,
        reason: t.reason,
      }),
    );
  }

  #control(data: Uint8Array): void {
    const m = decodeJson(data);
    const id = m?.lease;
    if (!m || typeof id !== 'string' || id.length === 0 || id.length > 100 || !isAdminReply(this.#subjects, m.reply)) {
      this.rejected++;
      this.#log.warn('trace control message refused', { reason: 'not a lease with an admin reply subject' });
      return;
    }
    const gate = typeof m.gate === 'string' && m.gate !== '' ? m.gate : undefined;
    if (gate !== undefined && gate !== this.#o.gid) return;
    if (m.release === true) {
      this.#leases.delete(id);
      this.#refresh();
      return;
    }
    const ttl = Math.min(MAX_LEASE_MS, Math.max(MIN_LEASE_MS, num(m.ttlMs, DEFAULT_TRACE_LEASE_MS)));
    const known = this.#leases.get(id);
    let refused = false;
    if (known) known.expiresAt = this.#now() + ttl;
    else if (this.#leases.size >= MAX_LEASES) {
      refused = true;
      this.#log.warn('trace lease refused', { lease: id, reason: `already ${MAX_LEASES} leases` });
    } else {
      const sample = Math.min(1, Math.max(0, num(m.sample, 1)));
      this.#leases.set(id, {
        filter: new SessionFilter({ uid: num(m.uid, 0), cid: num(m.cid, 0), gate }),
        threshold: sample * 2 ** 32,
        seed: Math.floor(Math.random() * 2 ** 32),
        expiresAt: this.#now() + ttl,
      });
      this.#log.info('trace lease taken', { lease: id, ttlMs: ttl });
    }
    this.#refresh(ttl);
    this.#o.bus.publish(
      m.reply as string,
      encodeJson({
        gate: this.#o.gid,
        name: this.#o.name ?? 'gate',
        lease: id,
        alwaysOn: this.#always.enabled,
        refused,
      }),
    );
  }

  /** Drops lapsed leases; runs a sweep timer only while a lease lives. */
  #expire(): void {
    const now = this.#now();
    for (const [id, l] of this.#leases)
      if (l.expiresAt <= now) {
        this.#leases.delete(id);
        this.#log.info('trace lease lapsed', { lease: id });
      }
    this.#refresh();
  }

  #refresh(ttl?: number): void {
    this.enabled = this.#always.enabled || this.#leases.size > 0;
    if (this.#leases.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    } else if (!this.#sweep && ttl !== undefined) {
      // A quarter lease: a lapsed lease is noticed within 1.25 lease periods.
      this.#sweep = setInterval(
        () => {
          try {
            this.#expire();
          } catch (err) {
            this.#log.error('trace lease sweep failed', { err: errorMessage(err) });
          }
        },
        Math.max(50, ttl / 4),
      );
      this.#sweep.unref();
    }
  }
}

function num(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt;
}
