import type { Bus, BusMessage, Subscription } from '../../bus/bus.js';
import { checkToken } from '../../bus/subjects.js';
import { DuetError, ErrorCode, errorMessage, RemoteError } from '../../errors.js';
import { settleWithin } from '../../lifecycle.js';
import type { Log } from '../../log/types.js';
import { type BodyCodec, type Decoder, toBody } from '../body-codec.js';
import { type EndpointStats, type MicroContext, type MicroService, microResponse, microSubjects } from './micro.js';
import { ServedCall } from './served-call.js';
import type { CallObserver, CallOptions, ServiceCall, ServiceCounters, ServiceMethods, ServiceReply } from './types.js';
import { codeOf, decodeReply, decodeRequest, encodeReply, encodeRequest } from './wire.js';

export interface ServicesOptions {
  bus: Bus;
  prefix: string;
  nodeId: string;
  body: BodyCodec;
  log: Log;
  defaultTimeoutMs: number;
  onCall?: CallObserver;
}

const dec = new TextDecoder();
const enc = new TextEncoder();

/**
 * Mesh RPC over the bus: `{prefix}.svc.{service}.{method}`, one NATS queue group per service, so discovery is
 * "who subscribed" and balancing is the queue group's (NATS: random member; memory bus: round robin). No
 * subscriber = DUET_ERR_NO_INSTANCE at once (NATS no-responders). The caller's remaining time travels with the
 * request; a cancelled call is announced on `{prefix}.svc.cancel` so the callee's signal aborts.
 */
export class Services {
  readonly counters: ServiceCounters = {
    calls: 0,
    callErrors: 0,
    served: 0,
    servedErrors: 0,
    expired: 0,
    cancelled: 0,
  };
  readonly #o: ServicesOptions;
  readonly #provided = new Map<string, ServiceMethods>();
  readonly #subs: Subscription[] = [];
  /** Calls being served, by call id: aborted on cancel or forced stop. */
  readonly #serving = new Map<string, ServedCall>();
  readonly #loops: Promise<void>[] = [];
  readonly #about = new Map<string, { version: string; description: string }>();
  /** Per method, `{service}.{method}`, for the NATS service STATS answer. */
  readonly #stats = new Map<string, EndpointStats>();
  #startedAt = new Date();
  #started = false;
  #seq = 0;

  constructor(o: ServicesOptions) {
    this.#o = o;
  }

  /**
   * Provides `name` with its methods (before start). Service and method names are bus tokens. `version` and
   * `description` are what NATS's service tooling (`nats micro info`) shows.
   */
  provide(name: string, methods: ServiceMethods, about: { version?: string; description?: string } = {}): void {
    if (this.#started) throw new DuetError(ErrorCode.ROUTE_REGISTERED, `service ${name} must be provided before start`);
    checkToken(name, 'service name');
    for (const m of Object.keys(methods)) checkToken(m, `method name of service ${name}`);
    if (this.#provided.has(name)) throw new DuetError(ErrorCode.ROUTE_REGISTERED, `service ${name} provided twice`);
    this.#provided.set(name, methods);
    this.#about.set(name, { version: about.version ?? '1.0.0', description: about.description ?? '' });
  }

  /** The names of the services this node provides. */
  names(): string[] {
    return [...this.#provided.keys()];
  }

  /** Subscribes the provided services (queue groups) and the cancel subject. */
  start(): void {
    this.#started = true;
    if (this.#provided.size === 0) return;
    const p = this.#o.prefix;
    for (const [name, methods] of this.#provided) {
      const sub = this.#o.bus.subscribe(`${p}.svc.${name}.*`, { queue: `${p}.svc.${name}` });
      this.#loop(sub, (msg) => void this.#serve(name, methods, msg));
    }
    this.#startedAt = new Date();
    for (const [name, methods] of this.#provided) {
      const about = this.#about.get(name) ?? { version: '1.0.0', description: '' };
      const svc: MicroService = { name, methods: Object.keys(methods), ...about };
      const ctx: MicroContext = {
        id: this.#o.nodeId,
        prefix: p,
        started: this.#startedAt,
        stats: (service, method) => this.#stats.get(`${service}.${method}`),
      };
      for (const { verb, subject } of microSubjects(name, this.#o.nodeId))
        this.#loop(
          this.#o.bus.subscribe(subject),
          (msg) => void msg.respond(enc.encode(microResponse(verb, svc, ctx))),
        );
    }
    this.#loop(this.#o.bus.subscribe(`${p}.svc.cancel`), (msg) => {
      const ac = this.#serving.get(dec.decode(msg.data));
      if (!ac) return;
      this.counters.cancelled++;
      ac.abort(new DuetError(ErrorCode.CANCELLED, 'the caller cancelled the call'));
    });
  }

  #loop(sub: Subscription, each: (msg: BusMessage) => void): void {
    this.#subs.push(sub);
    this.#loops.push(
      (async () => {
        for await (const msg of sub) each(msg);
      })().catch((err: unknown) => this.#o.log.error('service loop failed', { err: errorMessage(err) })),
    );
  }

  async #serve(name: string, methods: ServiceMethods, msg: BusMessage): Promise<void> {
    const method = msg.subject.slice(this.#o.prefix.length + 5 + name.length + 1);
    let req: ReturnType<typeof decodeRequest>;
    try {
      req = decodeRequest(msg.data);
    } catch (err) {
      this.counters.servedErrors++;
      this.#o.log.warn('bad service request', { service: name, method, err: errorMessage(err) });
      msg.respond(encodeReply({ ok: false, code: codeOf(err), message: errorMessage(err) }));
      return;
    }
    if (req.budgetMs <= 0) {
      this.counters.expired++;
      return;
    }
    const handler = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!handler) {
      this.counters.servedErrors++;
      const message = `service ${name} has no method ${method}`;
      msg.respond(encodeReply({ ok: false, code: ErrorCode.ROUTE_NOT_FOUND, message }));
      return;
    }
    const served = new ServedCall(Date.now() + req.budgetMs, `${name}.${method}`);
    this.#serving.set(req.callId, served);
    const codec = this.#o.body;
    const call: ServiceCall = {
      service: name,
      method,
      caller: req.caller,
      deadline: served.deadline,
      get signal() {
        return served.signal;
      },
      body: req.body,
      parse: <T>(d?: Decoder<T>): T => codec.decode(req.body, d),
    };
    this.counters.served++;
    const key = `${name}.${method}`;
    let st = this.#stats.get(key);
    if (!st) {
      st = { requests: 0, errors: 0, lastError: '', processingNs: 0 };
      this.#stats.set(key, st);
    }
    st.requests++;
    const t0 = performance.now();
    try {
      const value = await handler(call);
      // Past its deadline the caller has given up: an answer now could only race its own timeout.
      if (Date.now() >= served.deadline) {
        this.counters.expired++;
        return;
      }
      msg.respond(encodeReply({ ok: true, from: this.#o.nodeId, body: toBody(codec, value) }));
    } catch (err) {
      this.counters.servedErrors++;
      st.errors++;
      st.lastError = `${codeOf(err)}: ${errorMessage(err)}`;
      this.#o.log.warn('service method failed', { service: name, method, caller: req.caller, err: errorMessage(err) });
      msg.respond(encodeReply({ ok: false, code: codeOf(err), message: errorMessage(err) }));
    } finally {
      served.done();
      this.#serving.delete(req.callId);
      st.processingNs += Math.round((performance.now() - t0) * 1e6);
    }
  }

  /**
   * Calls `method` of `service` on one of its instances. Rejects DUET_ERR_NO_INSTANCE (nobody provides it),
   * DUET_ERR_TIMEOUT, DUET_ERR_CANCELLED (the signal aborted), RemoteError (DUET_ERR_REMOTE, the callee's code and
   * message), or DUET_ERR_UNAVAILABLE / DUET_ERR_CLOSED from the bus.
   */
  async call(service: string, method: string, body?: unknown, opts: CallOptions = {}): Promise<ServiceReply> {
    checkName(service, 'service name');
    checkName(method, 'method name');
    const o = this.#o;
    const timeoutMs = opts.timeoutMs ?? o.defaultTimeoutMs;
    const callId = `${o.nodeId}-${++this.#seq}`;
    const t0 = performance.now();
    this.counters.calls++;
    let outcome = 'ok';
    try {
      const data = encodeRequest({ budgetMs: timeoutMs, caller: o.nodeId, callId, body: toBody(o.body, body) });
      let raw: Uint8Array;
      try {
        raw = await o.bus.request(`${o.prefix}.svc.${service}.${method}`, data, { timeoutMs, signal: opts.signal });
      } catch (err) {
        throw this.#callError(err, service, method, callId, opts.signal);
      }
      const reply = decodeReply(raw);
      if (!reply.ok) throw new RemoteError(reply.code, reply.message, `${service}.${method}`);
      return replyOf(reply.body, reply.from, o.body);
    } catch (err) {
      this.counters.callErrors++;
      outcome = codeOf(err);
      throw err;
    } finally {
      o.onCall?.(service, method, outcome, (performance.now() - t0) / 1000);
    }
  }

  #callError(err: unknown, service: string, method: string, callId: string, signal: AbortSignal | undefined): unknown {
    const what = `${service}.${method}`;
    if (signal?.aborted) {
      // Tell whichever instance took it; the publish is cheap and nobody may be listening.
      this.#o.bus.publish(`${this.#o.prefix}.svc.cancel`, enc.encode(callId));
      return new DuetError(ErrorCode.CANCELLED, `call ${what} cancelled`, { cause: signal.reason });
    }
    if (codeOf(err) === ErrorCode.NO_RESPONDERS)
      return new DuetError(ErrorCode.NO_INSTANCE, `no instance provides service ${service} (${what})`, { cause: err });
    return err;
  }

  /** Stops taking calls, waits up to `deadlineMs` for those being served, then aborts the rest. */
  async stop(deadlineMs: number): Promise<void> {
    const subs = this.#subs.splice(0);
    await Promise.all(subs.map((s) => s.drain().catch(() => {})));
    await Promise.all(this.#loops.splice(0));
    if (this.#serving.size > 0) {
      await settleWithin(this.#untilIdle(), deadlineMs);
      for (const ac of this.#serving.values()) ac.abort(new DuetError(ErrorCode.CLOSED, 'the node stopped'));
    }
  }

  async #untilIdle(): Promise<void> {
    while (this.#serving.size > 0) await new Promise((r) => setTimeout(r, 10));
  }
}

const NAME = /^[A-Za-z0-9_-]+$/;

function checkName(value: string, what: string): void {
  if (!NAME.test(value))
    throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `${what} must match ${NAME}, got ${JSON.stringify(value)}`);
}

function replyOf(body: Uint8Array, from: string, codec: BodyCodec): ServiceReply {
  return {
    body,
    from,
    parse: <T>(d?: Decoder<T>): T => codec.decode(body, d),
    text: () => dec.decode(body),
  };
}
