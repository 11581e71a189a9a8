import { randomUUID } from 'node:crypto';
import { type Bus, decodeMessage } from '../bus/bus.js';
import { type GateOps, GateOpsCodec, SessionKind } from '../bus/envelope.js';
import type { OpSigner } from '../bus/op-signature.js';
import { checkToken, Subjects } from '../bus/subjects.js';
import {
  DEFAULT_AUTHORIZE_TIMEOUT_MS,
  DEFAULT_BUS_PREFIX,
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_DISPATCH,
  DEFAULT_GATE_NAME,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_MECHANISM,
  DEFAULT_LOGINS_IN_FLIGHT,
  DEFAULT_MALFORMED_BUDGET,
  DEFAULT_RATE_LIMIT,
  DEFAULT_RATE_LIMIT_BURST,
} from '../config/schema.js';
import { CloseCode, DuetError, ErrorCode, type ErrorReporter, errorMessage } from '../errors.js';
import { Cleanup, type Service, type ServiceRunState, type StopOptions, settleWithin } from '../lifecycle.js';
import type { Locator } from '../locate/locator.js';
import { type Log, silentLog } from '../log/types.js';
import type { Connection, ConnectionHandler, Transport } from '../network/transport.js';
import type { PacketCodec } from '../packet/codec.js';
import type { Registry, ServiceInstance } from '../registry/registry.js';
import { type CaptureSink, nullCaptureSink } from '../replay/capture-sink.js';
import { nullTraceSink, type TraceSink } from '../trace/trace.js';
import { GateCounters } from './counters.js';
import { Dispatcher } from './dispatcher.js';
import { FrameHandler, type HeartbeatMechanism } from './frames.js';
import { GateWire } from './gate-wire.js';
import { dueHooks, type GateHooks } from './hooks.js';
import { LoginAdmission } from './login-admission.js';
import { Operations } from './operations.js';
import { PushWriter } from './push-writer.js';
import { gateRebinder } from './rebind.js';
import { type ResumeOptions, ResumeService } from './resume.js';
import { noResumeCounters, type ResumeCounters } from './resume-takeover.js';
import { RouteTable } from './route-table.js';
import { Session } from './session.js';
import { createSessionEffects } from './session-effects.js';
import { SessionTable } from './sessions.js';
import type { DispatchStrategy } from './strategy.js';
import { Sweeper } from './sweeper.js';

export interface GateOptions {
  id?: string;
  name?: string;
  bus: Bus;
  locator: Locator;
  registry: Registry;
  transport: Transport;
  codec: PacketCodec;
  /** Bus subject prefix (default "duet"). */
  prefix?: string;
  dispatch?: DispatchStrategy;
  heartbeatIntervalMs?: number;
  heartbeatMechanism?: HeartbeatMechanism;
  authorizeTimeoutMs?: number;
  /** Malformed frames a connection may send before it is closed (0 = never close). Unset options: schema defaults. */
  malformedBudget?: number;
  /** Inbound messages per second per connection; 0 = no limit (close 4005 when exceeded). */
  rateLimit?: number;
  rateLimitBurst?: number;
  trace?: TraceSink;
  /** Client packets in and out, for capture files (off by default). */
  capture?: CaptureSink;
  log?: Log;
  reportError?: ErrorReporter;
  metadata?: Record<string, string>;
  /** Resumable sessions (issue 11); off unless windowMs > 0. */
  resume?: ResumeOptions;
  /** Signs the control ops this gate sends and drops unsigned or forged ones it receives (bus.opsSecret). */
  signer?: OpSigner;
  /** How long a request to another gate may take (the resume takeover). */
  callTimeoutMs?: number;
  /** Sessions with requests to a node that stopped beating: 'close' (4010, default) or 'ignore'. */
  nodeLost?: 'close' | 'ignore';
  /** Requests of unbound sessions in flight before the others' reads are held (login-admission.ts); 0 = no limit. */
  loginsInFlight?: number;
}

/**
 * The gate service: wiring and lifecycle only (docs/contributing.md). Sessions, dispatch, operations and sweeps live in
 * their own files.
 */
export class Gate implements Service {
  readonly id: string;
  readonly name: string;
  readonly counters = new GateCounters();
  readonly sessions = new SessionTable();
  /** A login storm's admission: reads of unbound sessions held while enough of their requests are in flight. */
  readonly admission: LoginAdmission;
  #state: ServiceRunState = 'idle';
  /** Cached for the hot path: frames from new connections are refused while draining. */
  isDraining = false;
  readonly #o: GateOptions;
  readonly #subjects: Subjects;
  readonly #log: Log;
  readonly #report: ErrorReporter;
  readonly #cleanup = new Cleanup();
  readonly #abort = new AbortController();
  readonly #wire: GateWire;
  readonly #dispatcher: Dispatcher;
  readonly #ops: Operations;
  /** What the transport calls: the frame handler, wrapped by features (resume) when on. */
  readonly #handler: ConnectionHandler;
  readonly #hooks: GateHooks;
  readonly #sweeper: Sweeper;
  /** Resume counters (all zero with resume off) and a session's token epoch (for tests and tools). */
  readonly resume: { readonly counters: ResumeCounters; epoch(s: Session): number };
  #address: { host: string; port: number } | undefined;
  #stopping: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];

  constructor(o: GateOptions) {
    this.#o = o;
    this.id = checkToken(o.id ?? randomUUID(), 'gate id');
    this.name = o.name ?? DEFAULT_GATE_NAME;
    this.#subjects = new Subjects(o.prefix ?? DEFAULT_BUS_PREFIX);
    this.#log = (o.log ?? silentLog).child({ gate: this.id });
    this.#report =
      o.reportError ?? ((err, context) => this.#log.error('unexpected failure', { context, err: errorMessage(err) }));
    this.#wire = new GateWire(o, this.id, this.sessions, this.#report, (list) => this.#route(list));
    const w = this.#wire;
    this.#dispatcher = new Dispatcher(new RouteTable(), o.locator, w.out, this.counters, this.#log, o.codec, w.sent);
    const capture = o.capture ?? nullCaptureSink;
    this.admission = new LoginAdmission({
      maxInFlight: o.loginsInFlight ?? DEFAULT_LOGINS_IN_FLIGHT,
      expireMs: o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      now: Date.now,
    });
    const admission = this.admission;
    const writer = new PushWriter({ gid: this.id, codec: o.codec, counters: this.counters, capture, admission });
    // Resume is a feature plugged into the gate's hooks; off, the hooks are due's gate and nothing else.
    const resume =
      o.resume && o.resume.windowMs > 0
        ? new ResumeService(o.resume, {
            gid: this.id,
            bus: o.bus,
            subjects: this.#subjects,
            locator: o.locator,
            sessions: this.sessions,
            codec: o.codec,
            log: this.#log,
            counters: this.counters,
            writer,
            callTimeoutMs: o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
            notifyMoved: (nid, uid, gid) => this.#wire.out.add(nid, { moved: { uid, gid } }, 32),
            forward: (gid, nid, op) =>
              o.bus.publish(
                this.#subjects.gateOp(gid),
                this.#encodeOps({ nid, reply: '', ops: [{ id: 0, ...op }], forwarded: true }),
              ),
          })
        : undefined;
    const hooks = resume ?? dueHooks(writer);
    this.#hooks = hooks;
    this.resume = resume ?? { counters: noResumeCounters(), epoch: () => 0 };
    const resumable = hooks.resumable;
    // Unset options take the config schema's defaults: one source per default.
    const authorizeTimeoutMs = o.authorizeTimeoutMs ?? DEFAULT_AUTHORIZE_TIMEOUT_MS;
    const heartbeatIntervalMs = o.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    const mechanism = o.heartbeatMechanism ?? DEFAULT_HEARTBEAT_MECHANISM;
    const effects = createSessionEffects({
      gid: this.id,
      sessions: this.sessions,
      locator: o.locator,
      dispatcher: this.#dispatcher,
      trace: o.trace ?? nullTraceSink,
      authorizeTimeoutMs,
      reportError: this.#report,
      now: Date.now,
      onClosed: () => this.#checkIdle(),
      hooks,
    });
    this.#ops = new Operations({
      gid: this.id,
      sessions: this.sessions,
      locator: o.locator,
      dispatcher: this.#dispatcher,
      counters: this.counters,
      log: this.#log,
      results: this.#wire.results,
      displaceRemote: (gid, uid) => this.#displaceRemote(gid, uid),
      hooks,
    });
    const frames = new FrameHandler({
      codec: o.codec,
      sessions: this.sessions,
      dispatcher: this.#dispatcher,
      counters: this.counters,
      heartbeatIntervalMs,
      mechanism,
      malformedBudget: o.malformedBudget ?? DEFAULT_MALFORMED_BUDGET,
      log: this.#log,
      createSession: (c: Connection) => {
        const now = Date.now();
        const s = new Session(c, effects, now, resumable);
        // Armed at open, so a connection silent in handshake (resume on) meets the same deadline as an active one.
        if (authorizeTimeoutMs > 0) s.authorizeDeadlineMs = now + authorizeTimeoutMs;
        return s;
      },
      isDraining: () => this.isDraining,
      capture,
      gid: this.id,
      rateLimit: o.rateLimit ?? DEFAULT_RATE_LIMIT,
      rateLimitBurst: o.rateLimitBurst ?? DEFAULT_RATE_LIMIT_BURST,
      admission,
    });
    this.#handler = hooks.frames(frames);
    this.#sweeper = new Sweeper({
      sessions: this.sessions,
      codec: o.codec,
      heartbeatIntervalMs,
      mechanism,
      authorizeTimeoutMs,
      hooks,
      isHeld: (s) => admission.isHeld(s),
    });
  }

  get state(): ServiceRunState {
    return this.#state;
  }

  /** The bound WebSocket address (after start). */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  /** How this gate registers in state `state` (also `duet drain`: hang). */
  instance(state: ServiceInstance['state']): ServiceInstance {
    return {
      id: this.id,
      kind: 'gate',
      name: this.name,
      state,
      endpoint: `bus://${this.#subjects.prefix}/gate/${this.id}`,
      weight: 0,
      routes: [],
      events: [],
      metadata: this.#o.metadata ?? {},
    };
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle')
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `gate cannot start from state ${this.#state}`);
    this.#state = 'starting';
    const o = this.#o;
    try {
      this.#serveOps(o.bus.subscribe(this.#subjects.gateOp(this.id)));
      this.#serveOps(o.bus.subscribe(this.#subjects.gatesOp()));
      this.#hooks.start();
      this.#cleanup.defer(() => this.#hooks.stop());
      this.#wire.start();
      this.#cleanup.defer(() => this.#wire.stop());
      await this.#watchNodes();
      this.#watchLocator();
      const rebind = gateRebinder({ gid: this.id, sessions: this.sessions, locator: o.locator, log: this.#log });
      rebind.start();
      this.#cleanup.defer(() => rebind.stop());
      this.#cleanup.defer(() => this.#abort.abort());
      this.#address = await o.transport.listen(this.#handler);
      this.#cleanup.defer(() => o.transport.close());
      await o.registry.register(this.instance('work'));
      this.#cleanup.defer(() => o.registry.deregister(this.instance('shut')));
      this.#sweeper.start();
      this.#cleanup.defer(() => this.#sweeper.stop());
      this.#cleanup.defer(() => this.admission.stop());
      this.#state = 'running';
    } catch (err) {
      await this.#cleanup.run();
      this.#state = 'stopped';
      throw err;
    }
  }

  #serveOps(sub: ReturnType<Bus['subscribe']>): void {
    this.#cleanup.defer(() => sub.drain());
    void (async () => {
      for await (const msg of sub) {
        try {
          const batch = decodeMessage(msg, GateOpsCodec);
          if (this.#o.signer && !this.#o.signer.verify(msg.data, batch)) {
            this.counters.forgedOps++;
            this.#log.warn('gate operation dropped: unsigned or bad signature', { nid: batch.nid });
            continue;
          }
          // Never awaited: an op waits only behind its own session's pending op (op-order.ts), not behind others'.
          for (const op of batch.ops) this.#ops.handle(op, batch.reply, batch.nid, batch.forwarded ?? false);
        } catch (err) {
          this.counters.opErrors++;
          this.#log.warn('bad gate operation envelope', { err: errorMessage(err) });
        }
      }
    })().catch((err: unknown) => this.#report(err, 'gate op loop'));
  }

  async #watchNodes(): Promise<void> {
    const stream = this.#o.registry.watch('node', this.#abort.signal)[Symbol.asyncIterator]();
    const apply = (list: ServiceInstance[]): void => this.#wire.setNodes(list);
    // The first list is awaited so the gate does not start with an empty route table.
    const first = await stream.next();
    if (!first.done) apply(first.value);
    void (async () => {
      for (;;) {
        const n = await stream.next();
        if (n.done) return;
        apply(n.value);
      }
    })().catch((err: unknown) => this.#report(err, 'registry watch'));
  }

  #route(list: readonly ServiceInstance[]): void {
    const o = { reachable: `bus://${this.#subjects.prefix}/`, warn: this.#log.warn.bind(this.#log) };
    const d = this.#dispatcher;
    d.table = RouteTable.build(list, this.#o.dispatch ?? DEFAULT_DISPATCH, d.table, o);
  }

  #watchLocator(): void {
    void (async () => {
      for await (const e of this.#o.locator.watch(['node'], this.#abort.signal)) {
        if (!this.sessions.byUid(e.uid)) continue;
        this.#dispatcher.cacheNode(e.uid, e.insName, e.type === 2 ? e.insID : undefined);
      }
    })().catch((err: unknown) => this.#log.warn('locator watch ended', { err: errorMessage(err) }));
  }

  #displaceRemote(gid: string, uid: number): void {
    const data = this.#encodeOps({
      nid: '',
      reply: '',
      ops: [{ id: 0, disconnect: { kind: SessionKind.USER, target: uid, force: false, displaced: true } }],
    });
    this.#o.bus.publish(this.#subjects.gateOp(gid), data);
  }

  #encodeOps(batch: GateOps): Uint8Array {
    return this.#o.signer ? this.#o.signer.encode(batch) : GateOpsCodec.encode(batch);
  }

  #checkIdle(): void {
    if (this.sessions.size > 0 || this.#idleWaiters.length === 0) return;
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const f of w) f();
  }

  #whenIdle(): Promise<void> {
    return this.sessions.size === 0 ? Promise.resolve() : new Promise((r) => this.#idleWaiters.push(r));
  }

  /**
   * Graceful (default): re-register as hang, refuse new upgrades (503), let sessions end by themselves until
   * `deadlineMs` (default 0 = close them now), then close the rest (1001), flush, deregister, close.
   */
  stop(opts: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(opts);
    return this.#stopping;
  }

  async #stop(opts: StopOptions): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopped') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'draining';
    this.isDraining = true;
    const o = this.#o;
    const graceful = opts.graceful ?? true;
    if (graceful) {
      await o.registry.register(this.instance('hang')).catch((err: unknown) => this.#report(err, 'register hang'));
      o.transport.refuseNew();
      const deadline = opts.deadlineMs ?? 0;
      if (deadline > 0 && this.sessions.size > 0) await settleWithin(this.#whenIdle(), deadline);
      for (const s of [...this.sessions.all()]) {
        s.send({ type: 'session.kicked', force: false, code: CloseCode.GOING_AWAY, reason: 'gate shutting down' });
      }
      // Closing handshakes get 3 s; whatever is left is terminated below.
      await settleWithin(this.#whenIdle(), 3000);
    }
    for (const s of [...this.sessions.all()]) {
      s.send({ type: 'session.kicked', force: true, code: CloseCode.KICKED, reason: 'gate stopped' });
    }
    // Binds still in flight answer their nodes before the batches close.
    if (this.#ops.pendingSessions > 0) await settleWithin(this.#ops.idle(), 3000);
    this.#wire.out.close();
    this.#wire.results.close();
    await o.bus.flush().catch(() => {});
    const errors = await this.#cleanup.run();
    for (const e of errors) this.#report(e, 'gate stop');
    this.#state = 'stopped';
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
