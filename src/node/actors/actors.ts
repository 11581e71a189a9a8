import type { Bus } from '../../bus/bus.js';
import { DuetError, ErrorCode } from '../../errors.js';
import type { Locator } from '../../locate/locator.js';
import type { Log } from '../../log/types.js';
import type { BodyCodec } from '../body-codec.js';
import type { EventContext, RequestContext } from '../context.js';
import type { RouteEntry } from '../router.js';
import type { CallOptions, ServiceReply } from '../services/types.js';
import { Actor, type ActorCreator, type ActorHost } from './actor.js';
import { ClusterActors } from './cluster-actors.js';

export interface ActorsOptions {
  nodeId: string;
  bus: Bus;
  prefix: string;
  locator: Locator;
  body: BodyCodec;
  log: Log;
  /** Messages an actor's mailbox holds before refusing (DUET_ERR_MAILBOX_FULL). */
  mailboxSize: number;
  /** A cluster actor with no message for this long is deactivated (0 = never). */
  idleMs: number;
  /** How long this node's placements hold without a renewal (its death is noticed within this). */
  leaseTtlMs: number;
  defaultTimeoutMs: number;
}

const noop = (): void => {};
const KIND = /^[A-Za-z0-9_-]{1,64}$/;
/** Ids travel in message bodies and Redis keys, never in subjects: whatever text has no control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const ID = /^[^\u0000-\u001f\u007f]{1,128}$/u;

export function checkActorAddress(kind: string, id: string): void {
  if (!KIND.test(kind))
    throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `actor kind must match ${KIND}, got ${JSON.stringify(kind)}`);
  if (!ID.test(id))
    throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `actor id must match ${ID}, got ${JSON.stringify(id)}`);
}

/**
 * The node's actors (due's Spawn / Kill / Actor / BindActor): local actors spawned by code, and cluster actors of
 * the kinds given to define(), activated on first use on one node of the cluster (cluster-actors.ts). Users bound
 * to an actor have their messages on the actor's routes handled by it, in its mailbox.
 */
export class Actors {
  readonly #actors = new Map<string, Actor>();
  /** uid → kind → actor. */
  readonly #bindings = new Map<number, Map<string, Actor>>();
  readonly #host: ActorHost;
  readonly cluster: ClusterActors;
  /** The effective settings (config `[actor]`). */
  readonly settings: Readonly<Pick<ActorsOptions, 'mailboxSize' | 'idleMs' | 'leaseTtlMs'>>;

  constructor(o: ActorsOptions) {
    this.settings = { mailboxSize: o.mailboxSize, idleMs: o.idleMs, leaseTtlMs: o.leaseTtlMs };
    this.#host = { log: o.log, mailboxSize: o.mailboxSize, removed: (a) => this.#removed(a) };
    this.cluster = new ClusterActors({
      ...o,
      local: {
        get: (key) => this.#actors.get(key),
        create: (kind, id, creator) => this.#create(kind, id, creator, []),
      },
    });
  }

  /** Starts a local actor `kind/id` (due Spawn); rejects if one runs. Cluster kinds are activated by call/send. */
  async spawn<A extends unknown[]>(kind: string, id: string, creator: ActorCreator<A>, ...args: A): Promise<Actor> {
    checkActorAddress(kind, id);
    if (this.cluster.defines(kind))
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `${kind} is a cluster kind: reach it with call() or send()`);
    return this.#create(kind, id, creator, args);
  }

  async #create<A extends unknown[]>(kind: string, id: string, creator: ActorCreator<A>, args: A): Promise<Actor> {
    const key = `${kind}/${id}`;
    if (this.#actors.has(key)) throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `actor ${key} already runs here`);
    const actor = new Actor(kind, id, this.#host);
    this.#actors.set(key, actor);
    try {
      await actor.start(creator, args);
    } catch (err) {
      await actor.kill();
      throw err;
    }
    return actor;
  }

  /** The actor `kind/id` running on this node (due Actor). */
  get(kind: string, id: string): Actor | undefined {
    return this.#actors.get(`${kind}/${id}`);
  }

  /** Actors on this node, optionally of one kind. */
  list(kind?: string): Actor[] {
    const all = [...this.#actors.values()];
    return kind === undefined ? all : all.filter((a) => a.kind === kind);
  }

  /** Kills `kind/id` here (due Kill); false when none runs. */
  async kill(kind: string, id: string): Promise<boolean> {
    const a = this.#actors.get(`${kind}/${id}`);
    if (!a) return false;
    await a.kill();
    return true;
  }

  #removed(actor: Actor): void {
    if (this.#actors.get(actor.key) === actor) this.#actors.delete(actor.key);
    for (const uid of actor.bound) {
      const m = this.#bindings.get(uid);
      if (m?.get(actor.kind) === actor) m.delete(actor.kind);
      if (m?.size === 0) this.#bindings.delete(uid);
    }
    actor.bound.clear();
    this.cluster.removed(actor);
  }

  /** Sends user `uid`'s messages on `kind`'s routes to `kind/id`, which must run here (due BindActor). */
  bind(uid: number, kind: string, id: string): void {
    const a = this.#actors.get(`${kind}/${id}`);
    if (!a || a.state === 'stopping' || a.state === 'dead')
      throw new DuetError(ErrorCode.ACTOR_NOT_FOUND, `no actor ${kind}/${id} runs on this node`);
    this.unbind(uid, kind);
    let m = this.#bindings.get(uid);
    if (!m) {
      m = new Map();
      this.#bindings.set(uid, m);
    }
    m.set(kind, a);
    a.bound.add(uid);
  }

  unbind(uid: number, kind: string): void {
    const m = this.#bindings.get(uid);
    const a = m?.get(kind);
    if (!m || !a) return;
    m.delete(kind);
    a.bound.delete(uid);
    if (m.size === 0) this.#bindings.delete(uid);
  }

  /** The actor `uid` is bound to for `kind`. */
  boundTo(uid: number, kind: string): Actor | undefined {
    return this.#bindings.get(uid)?.get(kind);
  }

  /** True while some user is bound to some actor (the node checks this before looking further). */
  get hasBindings(): boolean {
    return this.#bindings.size > 0;
  }

  /** The actor bound to `uid` that has a handler for `route`. */
  routeFor(uid: number, route: number): Actor | undefined {
    const m = this.#bindings.get(uid);
    if (!m) return undefined;
    for (const a of m.values()) if (a.hasRoute(route)) return a;
    return undefined;
  }

  /** `entry` with its handler replaced by the actor `uid` is bound to for the route, if there is one. */
  routeEntry(uid: number, entry: RouteEntry): RouteEntry | undefined {
    const a = this.routeFor(uid, entry.info.id);
    if (!a) return undefined;
    return { ...entry, handler: (ctx) => a.deliver(ctx.detach()).then(noop) };
  }

  /** Hands a request to the bound actor for its route (ctx.next()); rejects ACTOR_NOT_FOUND when there is none. */
  next(ctx: RequestContext): Promise<unknown> {
    const a = ctx.uid !== 0 ? this.routeFor(ctx.uid, ctx.route) : undefined;
    if (!a)
      return Promise.reject(
        new DuetError(ErrorCode.ACTOR_NOT_FOUND, `user ${ctx.uid} is bound to no actor with route ${ctx.route}`),
      );
    return a.deliver(ctx.detach());
  }

  /** Runs the event handlers of every actor `ctx.uid` is bound to. */
  event(ctx: EventContext): Promise<unknown> | undefined {
    const m = ctx.uid !== 0 ? this.#bindings.get(ctx.uid) : undefined;
    if (!m) return undefined;
    const targets = [...m.values()].filter((a) => a.hasEvent(ctx.event));
    if (targets.length === 0) return undefined;
    return Promise.all(targets.map((a) => a.event(ctx)));
  }

  /** A cluster kind: its actors are activated on first use, on one node of the cluster at a time. */
  define<A extends unknown[]>(kind: string, creator: ActorCreator<A>): void {
    checkActorAddress(kind, 'x');
    this.cluster.define(kind, creator as ActorCreator);
  }

  /** Calls `method` of cluster actor `kind/id`, wherever it runs (activating it if needed). */
  async call(kind: string, id: string, method: string, body?: unknown, opts?: CallOptions): Promise<ServiceReply> {
    checkActorAddress(kind, id);
    return this.cluster.call(kind, id, method, body, opts);
  }

  /** Like call() without waiting for the answer; a failure is logged and counted. */
  send(kind: string, id: string, method: string, body?: unknown): void {
    checkActorAddress(kind, id);
    this.cluster.send(kind, id, method, body);
  }

  start(): Promise<void> {
    return this.cluster.start();
  }

  /** Stops taking cluster messages, kills every actor (cluster ones give their placement back), drops the lease. */
  stop(): Promise<void> {
    return this.cluster.stop(async () => {
      await Promise.all([...this.#actors.values()].map((a) => a.kill()));
    });
  }
}
