import { randomUUID } from 'node:crypto';
import { decodeJson, encodeJson } from '../admin/replies.js';
import type { Bus, Subscription } from '../bus/bus.js';
import { Subjects } from '../bus/subjects.js';
import { DEFAULT_TRACE_LEASE_MS } from './trace-leases.js';

export interface LeaseHolderOptions {
  bus: Bus;
  prefix?: string;
  uid?: number;
  cid?: number;
  gate?: string;
  /** Fraction of sessions each gate traces, 0..1. */
  sample?: number;
  ttlMs?: number;
  /** A gate answered for the first time (its id, name, whether it traces always anyway). */
  onGate?: (gate: { gate: string; name: string; alwaysOn: boolean; refused: boolean }) => void;
}

/**
 * The tracer's side of an on-demand trace: takes a lease on `{prefix}.trace.control` and renews it every third of
 * its life, so gates publish while this process lives and stop within a lease period or two after it dies. Gates
 * answer each renewal on this holder's admin reply subject; `gates` is who answered.
 */
export class LeaseHolder {
  readonly id = randomUUID();
  readonly gates = new Map<string, { name: string; alwaysOn: boolean }>();
  readonly ttlMs: number;
  readonly #o: LeaseHolderOptions;
  readonly #subjects: Subjects;
  readonly #reply: string;
  readonly #sub: Subscription;
  readonly #reading: Promise<void>;
  #renew: NodeJS.Timeout | undefined;

  private constructor(o: LeaseHolderOptions) {
    this.#o = o;
    this.ttlMs = o.ttlMs ?? DEFAULT_TRACE_LEASE_MS;
    this.#subjects = new Subjects(o.prefix);
    this.#reply = `${this.#subjects.adminReplyPrefix()}.${this.id.replace(/-/g, '')}`;
    this.#sub = o.bus.subscribe(this.#reply);
    const sub = this.#sub;
    this.#reading = (async () => {
      for await (const m of sub) {
        const a = decodeJson(m.data);
        if (!a || typeof a.gate !== 'string' || this.gates.has(a.gate)) continue;
        const g = {
          gate: a.gate,
          name: String(a.name ?? ''),
          alwaysOn: a.alwaysOn === true,
          refused: a.refused === true,
        };
        if (!g.refused) this.gates.set(g.gate, { name: g.name, alwaysOn: g.alwaysOn });
        o.onGate?.(g);
      }
    })();
  }

  /** Subscribes for answers, takes the lease, and keeps renewing it until close(). */
  static async open(o: LeaseHolderOptions): Promise<LeaseHolder> {
    const h = new LeaseHolder(o);
    await o.bus.flush();
    h.#send(false);
    h.#renew = setInterval(() => h.#send(false), Math.max(50, h.ttlMs / 3));
    return h;
  }

  #send(release: boolean): void {
    const o = this.#o;
    this.#o.bus.publish(
      this.#subjects.traceControl(),
      encodeJson({
        lease: this.id,
        ttlMs: this.ttlMs,
        uid: o.uid ?? 0,
        cid: o.cid ?? 0,
        gate: o.gate ?? '',
        sample: o.sample ?? 1,
        reply: this.#reply,
        release,
      }),
    );
  }

  /** Stops renewing and tells the gates to drop the lease now (they would after it lapses anyway). */
  async close(): Promise<void> {
    if (this.#renew === undefined) return;
    clearInterval(this.#renew);
    this.#renew = undefined;
    this.#send(true);
    await this.#o.bus.flush().catch(() => {});
    await this.#sub.drain().catch(() => {});
    await this.#reading;
  }
}
