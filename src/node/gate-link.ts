import { Batcher, batchMessage } from '../bus/batcher.js';
import { type Bus, decodeMessage, type Subscription, type ValueCodec } from '../bus/bus.js';
import { type GateOp, type GateOpBody, type GateOps, type Result, ResultCode, ResultsCodec } from '../bus/envelope.js';
import { lostOnBus } from '../bus/payload-limit.js';
import type { Subjects } from '../bus/subjects.js';
import { DuetError, ErrorCode, type ErrorReporter, TimeoutError, UnavailableError } from '../errors.js';
import type { Log } from '../log/types.js';

interface Pending {
  resolve(r: Result): void;
  reject(err: Error): void;
  deadline: number;
  /** For the TimeoutError, built only when the deadline passes (a stack per call cost 4 % of a node in a login storm). */
  gid: string;
  timeoutMs: number;
}

/**
 * The node's link to gates (docs/architecture.md: no request() per message). Ops for one gate are batched per turn into one
 * GateOps; acked ops carry a correlation id and are answered on this process's single reply subject; one sweep
 * times them out.
 */
export class GateLink {
  readonly #bus: Bus;
  readonly #nid: string;
  readonly #reply: string;
  readonly #out: Batcher<GateOp>;
  readonly #pending = new Map<number, Pending>();
  readonly #log: Log;
  #nextId = 0;
  #sub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  readonly callTimeoutMs: number;

  /** Ops the bus refused or dropped (each batch also reported: logged and counted as a bus error). */
  dropped = 0;
  readonly #report: ErrorReporter;

  /** `opsCodec`: the envelope codec, an OpSigner's when control ops are signed; `report`: lost publishes. */
  constructor(
    bus: Bus,
    subjects: Subjects,
    nid: string,
    callTimeoutMs: number,
    log: Log,
    opsCodec: ValueCodec<GateOps>,
    report: ErrorReporter,
  ) {
    this.#bus = bus;
    this.#nid = nid;
    this.#reply = subjects.reply(nid);
    this.callTimeoutMs = callTimeoutMs;
    this.#log = log;
    this.#report = report;
    this.#out = new Batcher<GateOp>({
      bus,
      encode: (ops, gid) =>
        batchMessage(
          gid === '*' ? subjects.gatesOp() : subjects.gateOp(gid),
          { nid: this.#nid, reply: this.#reply, ops },
          opsCodec,
        ),
      onDropped: (ops, gid, err) => this.#dropped(ops, gid, err),
    });
  }

  start(): void {
    const sub = this.#bus.subscribe(this.#reply);
    this.#sub = sub;
    void (async () => {
      for await (const msg of sub) {
        try {
          for (const r of decodeMessage(msg, ResultsCodec).results) this.#settle(r);
        } catch (err) {
          this.#log.warn('bad result envelope', { err: String(err) });
        }
      }
    })();
    const every = Math.max(20, Math.min(250, this.callTimeoutMs / 4));
    this.#sweep = setInterval(() => this.#expire(Date.now()), every);
    this.#sweep.unref();
  }

  /** The bus did not take these ops: acked ones reject with the cause now, the batch is reported once. */
  #dropped(ops: GateOp[], gid: string, err: DuetError): void {
    this.dropped += ops.length;
    let acked = 0;
    for (const op of ops) {
      if (op.id === 0) continue;
      const p = this.#pending.get(op.id);
      if (!p) continue;
      this.#pending.delete(op.id);
      acked++;
      p.reject(err);
    }
    // A fixed context (it is a metrics label); the details go in the message.
    this.#report(lostOnBus(err, ops.length, `gate ops to gate ${gid} (${acked} awaited)`), 'bus publish: gate ops');
  }

  #settle(r: Result): void {
    const p = this.#pending.get(r.id);
    if (!p) return;
    this.#pending.delete(r.id);
    p.resolve(r);
  }

  #expire(now: number): void {
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) {
        this.#pending.delete(id);
        p.reject(new TimeoutError(`gate ${p.gid} did not answer within ${p.timeoutMs} ms`));
      }
    }
  }

  /** Fire and forget to one gate ('*' = every gate). */
  send(gid: string, op: GateOpBody): void {
    this.#out.add(gid, { id: 0, ...op }, opBytes(op));
  }

  /** Acked: resolves with the gate's Result (any code), rejects TimeoutError or UnavailableError. */
  call(gid: string, op: GateOpBody, timeoutMs = this.callTimeoutMs): Promise<Result> {
    if (this.#bus.status === 'closed') return Promise.reject(new UnavailableError('the bus is closed'));
    this.#nextId = (this.#nextId % Number.MAX_SAFE_INTEGER) + 1;
    const id = this.#nextId;
    return new Promise<Result>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + timeoutMs, gid, timeoutMs });
      this.#out.add(gid, { id, ...op }, opBytes(op));
    });
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  async close(): Promise<void> {
    this.#out.close();
    clearInterval(this.#sweep);
    for (const p of this.#pending.values())
      p.reject(new DuetError(ErrorCode.CLOSED, 'node stopped before the gate answered'));
    this.#pending.clear();
    await this.#sub?.drain();
  }
}

/** Turns a non-OK Result into a typed error. */
export function checkResult(r: Result, what: string): Result {
  if (r.code === ResultCode.OK) return r;
  if (r.code === ResultCode.NOT_FOUND_SESSION) {
    throw new DuetError(ErrorCode.SESSION_NOT_FOUND, `${what}: session not found on gate ${r.gid}`);
  }
  if (r.code === ResultCode.UNAVAILABLE) throw new UnavailableError(`${what}: ${r.message}`);
  throw new DuetError(ErrorCode.INTERNAL, `${what}: ${r.message || `gate answered code ${r.code}`}`);
}

/**
 * An estimate of one op's encoded size, for the batcher's early flush: the packet and the target list dominate;
 * the batcher checks the real encoded bytes before publishing.
 */
function opBytes(op: GateOpBody): number {
  const body = op.push ?? op.multicast ?? op.broadcast ?? op.publish;
  let n = 32 + (body ? body.packet.length : 0);
  const targets = op.multicast?.targets ?? op.subscribe?.targets ?? op.unsubscribe?.targets;
  if (targets) n += targets.length * 10;
  const channel = op.publish?.channel ?? op.subscribe?.channel ?? op.unsubscribe?.channel;
  if (channel) n += channel.length;
  return n;
}
