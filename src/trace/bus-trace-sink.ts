import type { Bus } from '../bus/bus.js';
import { TransitionCodec } from '../bus/envelope.js';
import { Subjects } from '../bus/subjects.js';
import { SessionFilter } from './session-filter.js';
import { nullTraceSink, type TraceSink, type TransitionRecord } from './trace.js';

/** The `[trace]` config section (src/config/schema.ts). */
export interface TraceSettings {
  enabled: boolean;
  /** Fraction of sessions traced, 0..1; decided per connection so a traced session is traced whole. */
  sample: number;
  /** 0 = any user. */
  uid: number;
  /** 0 = any connection. */
  cid: number;
}

export interface BusTraceSinkOptions extends Partial<TraceSettings> {
  bus: Bus;
  /** Bus subject prefix (`bus.nats.prefix`). Default "duet". */
  prefix?: string;
  /** Seeds the per-connection sampling hash; random by default so gates sample different cids. */
  sampleSeed?: number;
}

/**
 * Publishes every transition record the filters keep on `{prefix}.trace.session.{gid}` as a protobuf `Transition`
 * (proto/cluster.proto). The bus publish is fire-and-forget: tracing never slows or fails a session.
 */
export class BusTraceSink implements TraceSink {
  readonly enabled: boolean;
  readonly #bus: Bus;
  readonly #subjects: Subjects;
  /** gid → subject, so the hot path builds no string. */
  readonly #subjectOf = new Map<string, string>();
  readonly #filter: SessionFilter | undefined;
  /** Sampling threshold on a 32-bit hash; 2^32 keeps everything. */
  readonly #threshold: number;
  readonly #seed: number;

  constructor(o: BusTraceSinkOptions) {
    const sample = o.sample ?? 1;
    if (!(sample >= 0 && sample <= 1)) throw new RangeError(`trace.sample must be in [0, 1], got ${sample}`);
    this.enabled = (o.enabled ?? true) && sample > 0;
    this.#bus = o.bus;
    this.#subjects = new Subjects(o.prefix);
    const filter = new SessionFilter({ uid: o.uid, cid: o.cid });
    this.#filter = filter.isOpen ? undefined : filter;
    this.#threshold = sample * 2 ** 32;
    this.#seed = o.sampleSeed ?? Math.floor(Math.random() * 2 ** 32);
  }

  /** Whether connection `cid` falls in the sample (stable for the connection's life). */
  isSampled(cid: number): boolean {
    if (this.#threshold >= 2 ** 32) return true;
    // Knuth multiplicative hash of the cid mixed with the seed: consecutive cids spread evenly.
    return Math.imul((cid ^ this.#seed) >>> 0, 0x9e3779b1) >>> 0 < this.#threshold;
  }

  record(t: TransitionRecord): void {
    if (!this.enabled || !this.isSampled(t.cid)) return;
    if (!this.#filter) {
      this.#publish(t);
      return;
    }
    for (const r of this.#filter.accept(t)) this.#publish(r);
  }

  #publish(t: TransitionRecord): void {
    let subject = this.#subjectOf.get(t.gate);
    if (subject === undefined) {
      subject = this.#subjects.trace(t.gate);
      this.#subjectOf.set(t.gate, subject);
    }
    this.#bus.publish(
      subject,
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
}

/** The sink the `[trace]` settings ask for: the shared disabled sink when off, so the gate allocates nothing. */
export function createTraceSink(bus: Bus, settings: TraceSettings, prefix?: string): TraceSink {
  if (!settings.enabled || settings.sample <= 0) return nullTraceSink;
  return new BusTraceSink({ bus, prefix, ...settings });
}
