import { randomUUID } from 'node:crypto';
import { Batcher, batchMessage } from '../bus/batcher.js';
import { type Bus, type BusMessage, decodeMessage } from '../bus/bus.js';
import { GateOpsCodec, type NodeBatch, NodeBatchCodec, type NodeItem } from '../bus/envelope.js';
import type { OpSigner } from '../bus/op-signature.js';
import { lostOnBus } from '../bus/payload-limit.js';
import { checkToken, Subjects } from '../bus/subjects.js';
import {
  DEFAULT_BUS_PREFIX,
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_NODE_NAME,
  DEFAULT_NODE_WEIGHT,
} from '../config/schema.js';
import { DuetError, ErrorCode, type ErrorReporter, errorMessage } from '../errors.js';
import { KeyedQueue } from '../keyed-queue.js';
import { Cleanup, type Service, type ServiceRunState, type StopOptions, settleWithin } from '../lifecycle.js';
import type { Locator } from '../locate/locator.js';
import { type Log, silentLog } from '../log/types.js';
import type { PacketCodec } from '../packet/codec.js';
import { ClusterEvent, type Registry, type ServiceInstance, type ServiceState } from '../registry/registry.js';
import type { Actors } from './actors/actors.js';
import { type BodyCodec, jsonCodec } from './body-codec.js';
import { EventContext, type EventName, RequestContext } from './context.js';
import { GateLink } from './gate-link.js';
import { HeldNodeBindings } from './held-bindings.js';
import { type HookName, NodeHooks } from './hooks.js';
import { LivenessBeat } from './liveness-beat.js';
import { ClusterProxy } from './proxy.js';
import { Router, runChain } from './router.js';
import { type ActorSettings, createRuntime } from './runtime.js';
import type { Services } from './services/services.js';
import type { CallObserver } from './services/types.js';
import type { Tasks } from './tasks.js';

/** One connection, as the node orders its messages: the gate, the sending node (node-to-node deliver), the cid. */
function connKey(gid: string, nid: string, cid: number): string {
  return `${gid}/${nid}/${cid}`;
}

export type EventHandler = (ctx: EventContext) => void | Promise<void>;

export interface NodeOptions {
  id?: string;
  /** The stateful group: nodes with one name share users (due alias). */
  name?: string;
  bus: Bus;
  locator: Locator;
  registry: Registry;
  codec: PacketCodec;
  body?: BodyCodec;
  prefix?: string;
  weight?: number;
  callTimeoutMs?: number;
  metadata?: Record<string, string>;
  log?: Log;
  reportError?: ErrorReporter;
  /** Liveness beat period on the bus (gates take a node as dead after 3 missed beats); 0 = no beat. Default 500. */
  livenessIntervalMs?: number;
  /** Called after each request handler settles, with its route and duration in seconds (metrics). */
  onHandled?: (route: number, seconds: number) => void;
  /** Signs the control ops (bind, unbind, kick) this node sends to gates (bus.opsSecret). */
  signer?: OpSigner;
  /** Called after each service call this node makes (metrics). */
  onCall?: CallObserver;
  actors?: ActorSettings;
}

const EVENT_IDS: Record<EventName, ClusterEvent> = {
  connect: ClusterEvent.CONNECT,
  reconnect: ClusterEvent.RECONNECT,
  disconnect: ClusterEvent.DISCONNECT,
  resume: ClusterEvent.RESUME,
};
const EVENT_NAMES = new Map<number, EventName>(Object.entries(EVENT_IDS).map(([k, v]) => [v, k as EventName]));

/** Counters a bench or the metrics module reads. */
export interface NodeCounters {
  delivered: number;
  events: number;
  handlerErrors: number;
  unknownRoute: number;
  badPackets: number;
}

/**
 * A backend node: routes client packets to handlers, fires event handlers, and serves the context/proxy API.
 * Messages of one connection are handled in order: a handler that returns a promise holds that connection's later
 * messages (only that connection's) until it settles.
 */
export class Node implements Service {
  readonly id: string;
  readonly name: string;
  readonly router: Router;
  readonly proxy: ClusterProxy;
  /** Mesh RPC: provide() services before start, call() them from anywhere in the cluster. */
  readonly services: Services;
  /** Actors (due Spawn/Kill/BindActor), and cluster actors reached by `kind/id` from any node. */
  readonly actors: Actors;
  /** Detached work (ctx.task) that graceful stop waits for. */
  readonly tasks: Tasks;
  readonly #hooks = new NodeHooks();
  readonly counters: NodeCounters = { delivered: 0, events: 0, handlerErrors: 0, unknownRoute: 0, badPackets: 0 };
  #state: ServiceRunState = 'idle';
  readonly #o: NodeOptions;
  readonly #subjects: Subjects;
  readonly #log: Log;
  readonly #report: ErrorReporter;
  readonly #body: BodyCodec;
  readonly #link: GateLink;
  readonly #nodeOut: Batcher<NodeItem>;
  /** The locator as the proxy sees it: remembers this node's bindNode bindings to re-assert them. */
  readonly held: HeldNodeBindings;
  readonly #events = new Map<EventName, EventHandler[]>();
  readonly #cleanup = new Cleanup();
  /** Per-connection order: a connection has an entry only while one of its handlers is pending. */
  readonly #order = new KeyedQueue<string>({ onError: (err) => this.#handlerFailed(err) });
  #stopping: Promise<void> | undefined;

  constructor(o: NodeOptions) {
    this.#o = o;
    this.id = checkToken(o.id ?? randomUUID(), 'node id');
    this.name = o.name ?? DEFAULT_NODE_NAME;
    this.#subjects = new Subjects(o.prefix ?? DEFAULT_BUS_PREFIX);
    this.#log = (o.log ?? silentLog).child({ node: this.id });
    this.#report =
      o.reportError ?? ((err, context) => this.#log.error('unexpected failure', { context, err: errorMessage(err) }));
    this.#body = o.body ?? jsonCodec;
    this.router = new Router(() => this.#state !== 'idle');
    const signer = o.signer;
    this.#link = new GateLink(
      o.bus,
      this.#subjects,
      this.id,
      o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      this.#log,
      signer?.codec ?? GateOpsCodec,
      this.#report,
    );
    this.#nodeOut = new Batcher<NodeItem>({
      bus: o.bus,
      encode: (items, nid) => batchMessage(this.#subjects.nodeDeliver(nid), { gid: '', items }, NodeBatchCodec),
      onDropped: (items, nid, err) =>
        this.#report(lostOnBus(err, items.length, `deliveries to node ${nid}`), 'bus publish: node deliveries'),
    });
    this.held = new HeldNodeBindings(o.locator, this.#log);
    const rt = createRuntime({
      ...{ nodeId: this.id, bus: o.bus, prefix: this.#subjects.prefix, locator: o.locator, body: this.#body },
      ...{ log: this.#log, callTimeoutMs: o.callTimeoutMs ?? 3000, onCall: o.onCall, actors: o.actors },
    });
    this.services = rt.services;
    this.actors = rt.actors;
    this.tasks = rt.tasks;
    this.proxy = new ClusterProxy({
      runtime: this,
      nid: this.id,
      name: this.name,
      link: this.#link,
      locator: this.held,
      registry: o.registry,
      codec: o.codec,
      body: this.#body,
      nodeOut: this.#nodeOut,
    });
  }

  get state(): ServiceRunState {
    return this.#state;
  }

  addRoute(...args: Parameters<Router['addRoute']>): this {
    this.router.addRoute(...args);
    return this;
  }

  /** Lifecycle hooks (due AddHookListener): init before start, start once running, close as stop begins, destroy at its end. */
  hook(name: HookName, fn: (node: Node) => unknown): this {
    if (this.#state !== 'idle')
      throw new DuetError(ErrorCode.ROUTE_REGISTERED, `hook ${name} must be added before start`);
    this.#hooks.add(name, () => fn(this));
    return this;
  }

  /** Registers an event handler (before start). */
  on(event: EventName, handler: EventHandler): this {
    if (this.#state !== 'idle')
      throw new DuetError(ErrorCode.ROUTE_REGISTERED, `event ${event} must be registered before start`);
    const list = this.#events.get(event) ?? [];
    list.push(handler);
    this.#events.set(event, list);
    return this;
  }

  #instance(state: ServiceState): ServiceInstance {
    return {
      id: this.id,
      kind: 'node',
      name: this.name,
      state,
      endpoint: `bus://${this.#subjects.prefix}/node/${this.id}`,
      weight: this.#o.weight ?? DEFAULT_NODE_WEIGHT,
      routes: this.router.routes(),
      events: [...this.#events.keys()].map((e) => EVENT_IDS[e]),
      metadata: this.#o.metadata ?? {},
    };
  }

  async start(): Promise<void> {
    if (this.#state !== 'idle')
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `node cannot start from state ${this.#state}`);
    this.#state = 'starting';
    const o = this.#o;
    try {
      await this.#hooks.run('init');
      this.#link.start();
      this.#cleanup.defer(() => this.#link.close());
      this.held.start();
      this.#cleanup.defer(() => this.held.stop());
      const sub = o.bus.subscribe(this.#subjects.nodeAll(this.id));
      this.#cleanup.defer(() => sub.drain());
      void (async () => {
        for await (const msg of sub) this.#onBatch(msg);
      })().catch((err: unknown) => this.#report(err, 'node inbound loop'));
      this.services.start();
      await this.actors.start();
      this.#cleanup.defer(() => this.actors.stop());
      await o.bus.flush();
      // Beats start before the registration and stop after the deregistration (cleanup runs in reverse).
      const beat = new LivenessBeat(o.bus, this.#subjects.nodeAlive(this.id), o.livenessIntervalMs ?? 500);
      beat.start();
      this.#cleanup.defer(() => beat.stop());
      await o.registry.register(this.#instance('work'));
      this.#cleanup.defer(() => o.registry.deregister(this.#instance('shut')));
      this.#state = 'running';
      await this.#hooks.run('start');
    } catch (err) {
      await this.#cleanup.run();
      this.#state = 'stopped';
      throw err;
    }
  }

  /** Changes the registered state (work | busy | hang); gates pick stateless targets by it. */
  async setState(state: ServiceState): Promise<void> {
    await this.#o.registry.register(this.#instance(state));
  }

  #onBatch(msg: BusMessage): void {
    let batch: NodeBatch;
    try {
      batch = decodeMessage(msg, NodeBatchCodec);
    } catch (err) {
      this.counters.badPackets++;
      this.#log.warn('bad node envelope', { err: errorMessage(err) });
      return;
    }
    const order = this.#order;
    for (const item of batch.items) {
      if (item.deliver) {
        const d = item.deliver;
        const nid = d.nid ?? '';
        // Fast path (no closure, no key) while no handler is pending anywhere: running now is what the queue does.
        if (order.size > 0) {
          order.run(connKey(batch.gid, nid, d.cid), () => this.#request(batch.gid, nid, d.cid, d.uid, d.packet));
          continue;
        }
        const r = this.#guardedRequest(batch.gid, nid, d.cid, d.uid, d.packet);
        if (r) order.hold(connKey(batch.gid, nid, d.cid), r);
      } else if (item.moved) {
        // A gate handed this user to another gate: push there from now on, and fence the old gate so it knows
        // this node's earlier pushes (all before this fence in the stream) have reached it.
        this.proxy.moved(item.moved.uid, item.moved.gid);
        this.#link.send(batch.gid, { fence: { uid: item.moved.uid } });
      } else if (item.trigger) {
        const t = item.trigger;
        order.run(connKey(batch.gid, '', t.cid), () => this.#event(batch.gid, t.event, t.cid, t.uid));
      }
    }
  }

  /** Runs one request's handlers; a synchronous throw is counted here, a pending one is returned. */
  #guardedRequest(gid: string, nid: string, cid: number, uid: number, packet: Uint8Array): Promise<void> | undefined {
    try {
      const r = this.#request(gid, nid, cid, uid, packet);
      return r instanceof Promise ? r : undefined;
    } catch (err) {
      this.#handlerFailed(err);
      return undefined;
    }
  }

  #handlerFailed(err: unknown): void {
    this.counters.handlerErrors++;
    this.#log.error('handler failed', { err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined });
  }

  #request(gid: string, nid: string, cid: number, uid: number, packet: Uint8Array): void | Promise<void> {
    const r = this.#o.codec.decode(packet);
    if (!r.ok || r.packet.kind !== 'data') {
      this.counters.badPackets++;
      return;
    }
    const { route, seq, body } = r.packet;
    this.counters.delivered++;
    let entry = this.router.get(route);
    const ctx = new RequestContext({ gid, nid, cid, uid }, route, seq, body, this.proxy, this.#body);
    // A user bound to an actor with a handler for this route (ctx.bindActor): after the route's middleware, the
    // actor's mailbox takes it in place of the node's handler.
    if (entry && uid !== 0 && this.actors.hasBindings) entry = this.actors.routeEntry(uid, entry) ?? entry;
    const pre = this.router.preHandler;
    const post = this.router.postHandler;
    if (!entry) {
      const h = this.router.defaultHandler;
      if (!h) {
        this.counters.unknownRoute++;
        return;
      }
      return h(ctx);
    }
    const run = (): void | Promise<void> =>
      !pre && !post ? runChain(entry, ctx) : chain<RequestContext>([pre, (c) => runChain(entry, c), post], ctx);
    const onHandled = this.#o.onHandled;
    if (!onHandled) return run();
    const t0 = performance.now();
    const result = run();
    const done = (): void => onHandled(route, (performance.now() - t0) / 1000);
    if (result instanceof Promise) return result.finally(done);
    done();
  }

  #event(gid: string, event: number, cid: number, uid: number): void | Promise<void> {
    const name = EVENT_NAMES.get(event);
    const handlers = name ? this.#events.get(name) : undefined;
    if (!name || (!handlers && !this.actors.hasBindings)) return;
    this.counters.events++;
    const ctx = new EventContext({ gid, nid: '', cid, uid }, name, this.proxy, this.#body);
    // Bound actors see the event first, so the node's own handler can unbind them afterwards.
    const inActors = this.actors.hasBindings ? this.actors.event(ctx) : undefined;
    if (!handlers) return inActors?.then(noop);
    return inActors ? inActors.then(() => chain(handlers, ctx)) : chain(handlers, ctx);
  }

  /** Graceful: re-register as hang, let pending handlers finish (until deadlineMs), flush, deregister. */
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
    await this.#hooks.run('close', (err) => this.#report(err, 'close hook'));
    if (opts.graceful ?? true) {
      await this.setState('hang').catch((err: unknown) => this.#report(err, 'register hang'));
      if (this.#order.size > 0) await settleWithin(this.#order.idle(), opts.deadlineMs ?? 3000);
    }
    const deadlineMs = opts.graceful === false ? 0 : (opts.deadlineMs ?? 3000);
    await this.tasks.stop(deadlineMs);
    await this.services.stop(deadlineMs);
    this.#nodeOut.close();
    const errors = await this.#cleanup.run();
    for (const e of errors) this.#report(e, 'node stop');
    await this.#o.bus.flush().catch(() => {});
    this.#state = 'stopped';
    await this.#hooks.run('destroy', (err) => this.#report(err, 'destroy hook'));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

const noop = (): void => {};

/** Runs handlers in order; stays synchronous until one returns a promise. */
function chain<C>(list: readonly (((c: C) => void | Promise<void>) | undefined)[], ctx: C): void | Promise<void> {
  for (let i = 0; i < list.length; i++) {
    const h = list[i];
    if (!h) continue;
    const r = h(ctx);
    if (r instanceof Promise) {
      return r.then(async () => {
        for (let j = i + 1; j < list.length; j++) await list[j]?.(ctx);
      });
    }
  }
}
