import type { Bus, BusMessage, Subscription } from '../bus/bus.js';
import { GateOpsCodec, NodeBatchCodec } from '../bus/envelope.js';
import { Subjects } from '../bus/subjects.js';
import type { CaptureWriter } from './capture-file.js';
import type { CaptureDirection } from './capture-sink.js';

export interface BusCaptureOptions {
  bus: Bus;
  writer: CaptureWriter;
  /** Bus subject prefix. Default "duet". */
  prefix?: string;
  /**
   * Only one node's traffic: its deliveries and events, and the gate operations it sent (a node recording itself
   * with the bus it already has). Undefined = every node and gate.
   */
  nid?: string;
}

/**
 * Records the cluster envelopes on a bus into a capture file, from outside the cluster: gate → node batches
 * (`{p}.node.*.*`, direction in) and node → gate operations (`{p}.gate.*.op`, `{p}.gates.op`, direction out).
 * Each entry keeps the subject and the payload bytes untouched; gid and nid are read from the subject and, when
 * it decodes, the envelope (a payload that does not decode is still recorded).
 */
export class BusCapture implements AsyncDisposable {
  readonly subjects: string[];
  readonly #subs: Subscription[];
  readonly #done: Promise<void>[];
  readonly #writer: CaptureWriter;
  readonly #prefixTokens: number;
  readonly #nid: string | undefined;

  private constructor(subs: Subscription[], writer: CaptureWriter, prefix: string, nid: string | undefined) {
    this.#nid = nid;
    this.#subs = subs;
    this.#writer = writer;
    this.#prefixTokens = prefix.split('.').length;
    this.subjects = subs.map((s) => s.subject);
    this.#done = subs.map(async (sub) => {
      for await (const m of sub) this.#record(m);
    });
  }

  /** Subscribes and resolves once the bus server has the subscriptions. */
  static async start(o: BusCaptureOptions): Promise<BusCapture> {
    const s = new Subjects(o.prefix);
    const deliveries = o.nid === undefined ? `${s.prefix}.node.*.*` : s.nodeAll(o.nid);
    const subs = [deliveries, s.gateOp('*'), s.gatesOp()].map((subject) => o.bus.subscribe(subject));
    try {
      await o.bus.flush();
    } catch (err) {
      await Promise.all(subs.map((x) => x.drain().catch(() => {})));
      throw err;
    }
    return new BusCapture(subs, o.writer, s.prefix, o.nid);
  }

  #record(m: BusMessage): void {
    const tokens = m.subject.split('.').slice(this.#prefixTokens);
    let direction: CaptureDirection;
    let gid = '';
    let nid = '';
    if (tokens[0] === 'node') {
      direction = 'in';
      nid = tokens[1] ?? '';
      try {
        gid = NodeBatchCodec.decode(m.data).gid;
      } catch {
        // recorded as is: a capture is for looking at what really crossed the bus
      }
    } else {
      direction = 'out';
      if (tokens[0] === 'gate') gid = tokens[1] ?? '';
      try {
        nid = GateOpsCodec.decode(m.data).nid;
      } catch {
        // as above
      }
      if (this.#nid !== undefined && nid !== this.#nid) return;
    }
    this.#writer.write({ direction, gid, nid, cid: 0, uid: 0, kind: 'envelope', data: m.data, subject: m.subject });
  }

  /** Stops recording (what was delivered is written) and flushes the writer; the writer stays open. */
  async stop(): Promise<void> {
    await Promise.all(this.#subs.map((s) => s.drain()));
    await Promise.all(this.#done);
    await this.#writer.flush();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
