import type { Bus, BusMessage, Subscription } from '../../bus/bus.js';
import { DuetError, ErrorCode, errorMessage, RemoteError, TimeoutError } from '../../errors.js';
import type { ActorPlacement, Locator } from '../../locate/locator.js';
import type { Log } from '../../log/types.js';
import { type BodyCodec, type Decoder, toBody } from '../body-codec.js';
import type { CallOptions, ServiceReply } from '../services/types.js';
import { codeOf } from '../services/wire.js';
import type { Actor, ActorCreator, ActorMessage } from './actor.js';
import {
  type ActorReply,
  decodeActorReply,
  decodeActorRequest,
  encodeActorReply,
  encodeActorRequest,
} from './actor-wire.js';

export interface ClusterActorsOptions {
  nodeId: string;
  bus: Bus;
  prefix: string;
  locator: Locator;
  body: BodyCodec;
  log: Log;
  idleMs: number;
  leaseTtlMs: number;
  defaultTimeoutMs: number;
  local: {
    get(key: string): Actor | undefined;
    create(kind: string, id: string, creator: ActorCreator): Promise<Actor>;
  };
}

export interface ClusterActorCounters {
  calls: number;
  callErrors: number;
  activations: number;
  deactivations: number;
  /** Messages answered "moved" (this node does not own the actor). */
  moved: number;
  /** Placements dropped because this node's lease could not be renewed in time. */
  fenced: number;
  leaseErrors: number;
}

const dec = new TextDecoder();
/** Pause before asking the locator again when an owner is gone (its lease has to run out first). */
const RETRY_MS = 100;

type LocalResult = { value: unknown } | { moved: string };

/**
 * Actors addressable by `kind/id` across the cluster. The first call places the actor through the locator's
 * compare-and-set (on the calling node) and activates it there; later calls go to its owner on
 * `{prefix}.actor.{nid}`. A node holds its placements only while its lease lives: it renews it every ttl/3 and
 * deactivates its actors itself once the lease may have run out (fencing), so no two nodes run one actor at a
 * time. When an owner dies its subscription goes (no responders) and, once its lease ran out, the next call
 * places the actor elsewhere.
 */
export class ClusterActors {
  readonly counters: ClusterActorCounters = {
    calls: 0,
    callErrors: 0,
    activations: 0,
    deactivations: 0,
    moved: 0,
    fenced: 0,
    leaseErrors: 0,
  };
  readonly #o: ClusterActorsOptions;
  readonly #kinds = new Map<string, ActorCreator>();
  /** Placements of the actors running here, by key. */
  readonly #placed = new Map<string, ActorPlacement>();
  readonly #activating = new Map<string, Promise<Actor | string>>();
  /** Releases in flight: an activation of the same key waits for them (a late release would free the new one). */
  readonly #releasing = new Map<string, Promise<unknown>>();
  /** Owners of remote actors, as last seen. */
  readonly #owners = new Map<string, string>();
  #sub: Subscription | undefined;
  #loop: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #fenceTimer: NodeJS.Timeout | undefined;
  /** performance.now() until which this node's lease surely holds (measured from before the renewal was sent). */
  #leaseUntil = 0;
  #stopped = false;

  constructor(o: ClusterActorsOptions) {
    this.#o = o;
  }

  define(kind: string, creator: ActorCreator): void {
    if (this.#sub) throw new DuetError(ErrorCode.ROUTE_REGISTERED, `actor kind ${kind} must be defined before start`);
    if (this.#kinds.has(kind)) throw new DuetError(ErrorCode.ROUTE_REGISTERED, `actor kind ${kind} defined twice`);
    this.#kinds.set(kind, creator);
  }

  defines(kind: string): boolean {
    return this.#kinds.has(kind);
  }

  /** Subscribes this node's actor subject and starts the lease; only when some kind is defined. */
  async start(): Promise<void> {
    if (this.#kinds.size === 0) return;
    await this.#renew();
    const sub = this.#o.bus.subscribe(`${this.#o.prefix}.actor.${this.#o.nodeId}`);
    this.#sub = sub;
    this.#loop = (async () => {
      for await (const msg of sub) void this.#serve(msg);
    })().catch((err: unknown) => this.#o.log.error('actor loop failed', { err: errorMessage(err) }));
    const ttl = this.#o.leaseTtlMs;
    this.#timers.push(setInterval(() => void this.#renew(), Math.max(20, ttl / 3)));
    if (this.#o.idleMs > 0)
      this.#timers.push(setInterval(() => this.#sweep(), Math.max(20, Math.min(this.#o.idleMs / 4, 5000))));
  }

  async #renew(): Promise<void> {
    const sentAt = performance.now();
    try {
      await this.#o.locator.renewLease(this.#o.nodeId, this.#o.leaseTtlMs);
      this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.#o.leaseTtlMs);
      // Fencing: the moment the lease may lapse (no later renewal), our actors stop; another node can place
      // them only after the store's copy of the lease expired, which is never earlier.
      clearTimeout(this.#fenceTimer);
      if (!this.#stopped) this.#fenceTimer = setTimeout(() => this.#fence(), this.#leaseUntil - performance.now());
    } catch (err) {
      this.counters.leaseErrors++;
      this.#o.log.warn('actor lease renewal failed', { err: errorMessage(err) });
    }
    if (performance.now() >= this.#leaseUntil) this.#fence();
  }

  #fence(): void {
    for (const key of this.#placed.keys()) {
      this.counters.fenced++;
      void this.#o.local.get(key)?.kill();
    }
  }

  #leaseValid(): boolean {
    return performance.now() < this.#leaseUntil;
  }

  #sweep(): void {
    const now = performance.now();
    for (const key of this.#placed.keys()) {
      const a = this.#o.local.get(key);
      if (a && a.state === 'running' && !a.mailbox.busy && now - a.lastUsed >= this.#o.idleMs) {
        this.counters.deactivations++;
        void a.kill();
      }
    }
  }

  /** An actor here died (killed, idle, fenced): give its placement back. */
  removed(actor: Actor): void {
    const p = this.#placed.get(actor.key);
    if (!p) return;
    this.#placed.delete(actor.key);
    const release = this.#o.locator
      .releaseActor(actor.key, p)
      .catch((err: unknown) => this.#o.log.warn('actor release failed', { actor: actor.key, err: errorMessage(err) }))
      .finally(() => {
        if (this.#releasing.get(actor.key) === release) this.#releasing.delete(actor.key);
      });
    this.#releasing.set(actor.key, release);
  }

  async call(kind: string, id: string, method: string, body?: unknown, opts: CallOptions = {}): Promise<ServiceReply> {
    const o = this.#o;
    const key = `${kind}/${id}`;
    const timeoutMs = opts.timeoutMs ?? o.defaultTimeoutMs;
    const until = performance.now() + timeoutMs;
    const data = toBody(o.body, body);
    this.counters.calls++;
    try {
      for (;;) {
        if (opts.signal?.aborted)
          throw new DuetError(ErrorCode.CANCELLED, `call ${key}.${method} cancelled`, { cause: opts.signal.reason });
        const left = until - performance.now();
        if (left <= 0) throw new TimeoutError(`call ${key}.${method} timed out after ${timeoutMs} ms`);
        const owner = this.#owners.get(key) ?? (await o.locator.placeActor(key, o.nodeId, opts.signal)).nid;
        if (owner === o.nodeId) {
          this.#owners.delete(key);
          const r = await this.#local(kind, id, method, o.nodeId, data);
          if ('value' in r) return reply(toBody(o.body, r.value), o.nodeId, o.body);
          await this.#moved(key, r.moved, left);
          continue;
        }
        this.#owners.set(key, owner);
        let raw: Uint8Array;
        try {
          const req = encodeActorRequest({ budgetMs: left, kind, id, method, caller: o.nodeId, body: data });
          raw = await o.bus.request(`${o.prefix}.actor.${owner}`, req, { timeoutMs: left, signal: opts.signal });
        } catch (err) {
          if (opts.signal?.aborted)
            throw new DuetError(ErrorCode.CANCELLED, `call ${key}.${method} cancelled`, { cause: opts.signal.reason });
          if (codeOf(err) !== ErrorCode.NO_RESPONDERS) throw err;
          // The owner is gone: wait for its lease to run out, then the locator hands the actor to someone else.
          await this.#moved(key, '', left);
          continue;
        }
        const r = decodeActorReply(raw);
        if (r.type === 'ok') return reply(r.body, owner, o.body);
        if (r.type === 'error') throw new RemoteError(r.code, r.message, `${key}.${method}`);
        await this.#moved(key, r.owner, left);
      }
    } catch (err) {
      this.counters.callErrors++;
      throw err;
    }
  }

  async #moved(key: string, owner: string, left: number): Promise<void> {
    if (owner) this.#owners.set(key, owner);
    else {
      this.#owners.delete(key);
      await new Promise((r) => setTimeout(r, Math.min(RETRY_MS, left)));
    }
  }

  send(kind: string, id: string, method: string, body?: unknown): void {
    this.call(kind, id, method, body).catch((err: unknown) =>
      this.#o.log.warn('actor send failed', { actor: `${kind}/${id}`, method, err: errorMessage(err) }),
    );
  }

  async #serve(msg: BusMessage): Promise<void> {
    let r: ActorReply;
    try {
      const req = decodeActorRequest(msg.data);
      const out = await this.#local(req.kind, req.id, req.method, req.caller, req.body);
      if ('value' in out) r = { type: 'ok', body: toBody(this.#o.body, out.value) };
      else {
        this.counters.moved++;
        r = { type: 'moved', owner: out.moved };
      }
    } catch (err) {
      r = { type: 'error', code: codeOf(err), message: errorMessage(err) };
    }
    msg.respond(encodeActorReply(r));
  }

  /** Runs a message on the actor here, activating it if this node may own it; else says who owns it. */
  async #local(kind: string, id: string, method: string, caller: string, body: Uint8Array): Promise<LocalResult> {
    const key = `${kind}/${id}`;
    if (this.#stopped) return { moved: '' };
    // Without a live lease another node may own it by now: the caller asks the locator again.
    if (!this.#leaseValid()) return { moved: '' };
    let a = this.#placed.has(key) ? this.#o.local.get(key) : undefined;
    if (!a || a.state === 'stopping' || a.state === 'dead') {
      const got = await this.#activate(kind, id, key, a);
      if (typeof got === 'string') return { moved: got };
      a = got;
    }
    const codec = this.#o.body;
    const m: ActorMessage = { method, caller, body, parse: <T>(d?: Decoder<T>): T => codec.decode(body, d) };
    return { value: await a.receive(m) };
  }

  #activate(kind: string, id: string, key: string, dying: Actor | undefined): Promise<Actor | string> {
    let p = this.#activating.get(key);
    if (!p) {
      p = (async () => {
        const creator = this.#kinds.get(kind);
        if (!creator) throw new DuetError(ErrorCode.ACTOR_NOT_FOUND, `actor kind ${kind} is not defined on this node`);
        await dying?.kill();
        await this.#releasing.get(key);
        const placement = await this.#o.locator.placeActor(key, this.#o.nodeId);
        if (placement.nid !== this.#o.nodeId) return placement.nid;
        this.#placed.set(key, placement);
        this.counters.activations++;
        try {
          return await this.#o.local.create(kind, id, creator);
        } catch (err) {
          this.#placed.delete(key);
          await this.#o.locator.releaseActor(key, placement).catch(() => {});
          throw err;
        }
      })().finally(() => this.#activating.delete(key));
      this.#activating.set(key, p);
    }
    return p;
  }

  /** Stops taking messages, runs `killAll` (placements are released as actors die), drops the lease. */
  async stop(killAll: () => Promise<void>): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    clearTimeout(this.#fenceTimer);
    await this.#sub?.drain().catch(() => {});
    await this.#loop;
    await killAll();
    await Promise.all(this.#releasing.values());
    if (this.#kinds.size > 0) {
      await this.#o.locator
        .dropLease(this.#o.nodeId)
        .catch((err: unknown) => this.#o.log.warn('actor lease drop failed', { err: errorMessage(err) }));
    }
  }
}

function reply(body: Uint8Array, from: string, codec: BodyCodec): ServiceReply {
  return { body, from, parse: <T>(d?: Decoder<T>): T => codec.decode(body, d), text: () => dec.decode(body) };
}
