import { DuetError, ErrorCode, errorMessage } from '../../errors.js';
import type { Log } from '../../log/types.js';
import type { Decoder } from '../body-codec.js';
import type { EventContext, EventName, RequestContext } from '../context.js';
import { Mailbox } from './mailbox.js';

/** What an actor kind's creator returns: lifecycle steps, each run in the actor's mailbox. */
export interface Processor {
  /** Before any message (register routes, events and methods here, or in the creator). */
  init?(): unknown;
  /** After init. */
  start?(): unknown;
  /** When the actor is killed or deactivated, after the messages already in its mailbox. */
  destroy?(): unknown;
}

/** Builds one actor's processor (due's `Spawn` creator); `args` are spawn()'s extra arguments. */
export type ActorCreator<A extends unknown[] = unknown[]> = (actor: Actor, ...args: A) => Processor | undefined;

/** A message sent or called to an actor by `kind/id` (from any node). */
export interface ActorMessage {
  readonly method: string;
  /** The sending node's id. */
  readonly caller: string;
  readonly body: Uint8Array;
  parse<T>(decoder?: Decoder<T>): T;
}

export type ActorRouteHandler = (ctx: RequestContext) => unknown;
export type ActorEventHandler = (ctx: EventContext) => unknown;
/** Its return value is the call's reply body (raw bytes and strings pass through, other values use the codec). */
export type ActorMethodHandler = (msg: ActorMessage) => unknown;

export interface ActorTimer {
  stop(): void;
}

export type ActorState = 'starting' | 'running' | 'stopping' | 'dead';

export interface ActorHost {
  readonly log: Log;
  readonly mailboxSize: number;
  /** The actor finished dying: forget it (maps, bindings, placement). */
  removed(actor: Actor): void;
}

/**
 * One actor (due node.Actor): a kind and an id, a bounded mailbox that runs one message at a time, its own routes,
 * events and methods, and timers that die with it. Everything it handles goes through the mailbox, so its state
 * needs no locks even across awaits. An actor awaiting a call to itself waits forever: invoke from outside only.
 */
export class Actor {
  readonly kind: string;
  readonly id: string;
  readonly mailbox: Mailbox;
  readonly #routes = new Map<number, ActorRouteHandler>();
  readonly #events = new Map<EventName, ActorEventHandler[]>();
  readonly #methods = new Map<string, ActorMethodHandler>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Users bound to this actor (ctx.bindActor); unbound when it dies. */
  readonly bound = new Set<number>();
  readonly #host: ActorHost;
  #processor: Processor | undefined;
  #state: ActorState = 'starting';
  #dying: Promise<void> | undefined;
  /** performance.now() of the last message (idle deactivation). */
  lastUsed = performance.now();

  constructor(kind: string, id: string, host: ActorHost) {
    this.kind = kind;
    this.id = id;
    this.#host = host;
    this.mailbox = new Mailbox(host.mailboxSize, `actor ${kind}/${id}`);
  }

  get state(): ActorState {
    return this.#state;
  }

  /** `kind/id`, the actor's cluster address. */
  get key(): string {
    return `${this.kind}/${this.id}`;
  }

  /** Runs the creator, then init and start in the mailbox. */
  async start<A extends unknown[]>(creator: ActorCreator<A>, args: A): Promise<void> {
    this.#processor = creator(this, ...args) ?? undefined;
    const p = this.#processor;
    await this.mailbox.post(async () => {
      await p?.init?.();
      await p?.start?.();
    });
    if (this.#state === 'starting') this.#state = 'running';
  }

  /** Messages of bound users on `route` come here instead of the node's handler. */
  addRoute(route: number, handler: ActorRouteHandler): this {
    this.#routes.set(route, handler);
    return this;
  }

  on(event: EventName, handler: ActorEventHandler): this {
    const list = this.#events.get(event) ?? [];
    list.push(handler);
    this.#events.set(event, list);
    return this;
  }

  /** A method other nodes reach with `actors.call(kind, id, method, body)` or `send`. */
  handle(method: string, handler: ActorMethodHandler): this {
    this.#methods.set(method, handler);
    return this;
  }

  hasRoute(route: number): boolean {
    return this.#routes.has(route);
  }

  hasEvent(event: EventName): boolean {
    return this.#events.has(event);
  }

  /** Runs `fn` in the mailbox, after what is already there (due Invoke). */
  invoke<T>(fn: () => T | Promise<T>): Promise<Awaited<T>> {
    this.lastUsed = performance.now();
    return this.mailbox.post(fn);
  }

  /** Runs `fn` after `ms`, outside the mailbox (quick work that touches no actor state); stops when the actor dies. */
  afterFunc(ms: number, fn: () => unknown): ActorTimer {
    return this.#timer(ms, () => {
      try {
        const r = fn();
        if (r instanceof Promise) r.catch((err: unknown) => this.#failed(err, 'afterFunc'));
      } catch (err) {
        this.#failed(err, 'afterFunc');
      }
    });
  }

  /** Runs `fn` in the mailbox after `ms` (due AfterInvoke); stops when the actor dies. */
  afterInvoke(ms: number, fn: () => unknown): ActorTimer {
    return this.#timer(ms, () => {
      this.mailbox.post(fn).catch((err: unknown) => this.#failed(err, 'afterInvoke'));
    });
  }

  #timer(ms: number, fire: () => void): ActorTimer {
    if (this.#state === 'stopping' || this.#state === 'dead')
      throw new DuetError(ErrorCode.CLOSED, `actor ${this.key} is stopped`);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fire();
    }, ms);
    this.#timers.add(t);
    return {
      stop: () => {
        clearTimeout(t);
        this.#timers.delete(t);
      },
    };
  }

  /** Number of live timers (tests, metrics). */
  get timers(): number {
    return this.#timers.size;
  }

  /** Hands a client request to this actor's route handler, in the mailbox. */
  deliver(ctx: RequestContext): Promise<unknown> {
    const h = this.#routes.get(ctx.route);
    if (!h)
      return Promise.reject(new DuetError(ErrorCode.ROUTE_NOT_FOUND, `actor ${this.key} has no route ${ctx.route}`));
    return this.invoke(() => h(ctx));
  }

  /** Runs this actor's handlers of `ctx.event`, in the mailbox. */
  event(ctx: EventContext): Promise<unknown> {
    const list = this.#events.get(ctx.event) ?? [];
    return this.invoke(async () => {
      for (const h of list) await h(ctx);
    });
  }

  /** Runs a cluster message's method, in the mailbox; resolves with the handler's value. */
  receive(msg: ActorMessage): Promise<unknown> {
    const h = this.#methods.get(msg.method);
    if (!h)
      return Promise.reject(new DuetError(ErrorCode.ROUTE_NOT_FOUND, `actor ${this.key} has no method ${msg.method}`));
    return this.invoke(() => h(msg));
  }

  /** Stops timers, refuses new messages, lets queued ones finish, runs destroy. Safe to call twice. */
  kill(): Promise<void> {
    this.#dying ??= this.#die();
    return this.#dying;
  }

  async #die(): Promise<void> {
    this.#state = 'stopping';
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.mailbox.close();
    await this.mailbox.last(async () => {
      try {
        await this.#processor?.destroy?.();
      } catch (err) {
        this.#failed(err, 'destroy');
      }
    });
    this.#state = 'dead';
    this.#host.removed(this);
  }

  #failed(err: unknown, what: string): void {
    this.#host.log.error('actor step failed', { actor: this.key, step: what, err: errorMessage(err) });
  }
}
