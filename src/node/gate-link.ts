import { Batcher, batchMessage } from '../bus/batcher.js';
import { type Bus, decodeMessage, type Subscription, type ValueCodec } from '../bus/bus.js';
import {
  type GateOp,
  type GateOpBody,
  type GateOps,
  GateOpsCodec,
  type Result,
  ResultCode,
  ResultsCodec,
} from '../bus/envelope.js';
import type { Subjects } from '../bus/subjects.js';
import { DuetError, ErrorCode, TimeoutError, UnavailableError } from '../errors.js';
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
 * The node's link to gates (DESIGN.md: no request() per message). Ops for one gate are batched per turn into one
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

  /** `opsCodec`: the envelope codec, an OpSigner's when control ops are signed. */
  constructor(
    bus: Bus,
    subjects: Subjects,
    nid: string,
    callTimeoutMs: number,
    log: Log,
    opsCodec: ValueCodec<GateOps> = GateOpsCodec,
  ) {
    this.#bus = bus;
    this.#nid = nid;
    this.#reply = subjects.reply(nid);
    this.callTimeoutMs = callTimeoutMs;
    this.#log = log;
    this.#out = new Batcher<GateOp>({
      bus,
      encode: (ops, gid) =>
        batchMessage(
          gid === '*' ? subjects.gatesOp() : subjects.gateOp(gid),
          { nid: this.#nid, reply: this.#reply, ops },
          opsCodec,
        ),
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
    this.#out.add(gid, { id: 0, ...op }, 64);
  }

  /** Acked: resolves with the gate's Result (any code), rejects TimeoutError or UnavailableError. */
  call(gid: string, op: GateOpBody, timeoutMs = this.callTimeoutMs): Promise<Result> {
    if (this.#bus.status === 'closed') return Promise.reject(new UnavailableError('the bus is closed'));
    this.#nextId = (this.#nextId % Number.MAX_SAFE_INTEGER) + 1;
    const id = this.#nextId;
    return new Promise<Result>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + timeoutMs, gid, timeoutMs });
      this.#out.add(gid, { id, ...op }, 64);
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
