import { SessionKind } from '../bus/envelope.js';
import { DuetError, ErrorCode } from '../errors.js';
import type { Actor, ActorCreator } from './actors/actor.js';
import { type BodyCodec, type Decoder, toBody } from './body-codec.js';
import type { ClusterProxy } from './proxy.js';

/** Which cluster event an EventContext carries (due cluster.Event). */
export type EventName = 'connect' | 'reconnect' | 'disconnect' | 'resume';

interface Source {
  gid: string;
  nid: string;
  cid: number;
  uid: number;
}

/** What request and event contexts share: the session's ids and the session-scoped operations. */
export class SessionContext {
  /** Source gate ("" for node-to-node deliveries). */
  readonly gid: string;
  /** Source node for node-to-node deliveries, else "". */
  readonly nid: string;
  readonly cid: number;
  /** 0 while unbound; set by bindGate(). */
  uid: number;
  readonly proxy: ClusterProxy;
  protected readonly codec: BodyCodec;

  constructor(src: Source, proxy: ClusterProxy, codec: BodyCodec) {
    this.gid = src.gid;
    this.nid = src.nid;
    this.cid = src.cid;
    this.uid = src.uid;
    this.proxy = proxy;
    this.codec = codec;
  }

  #needGate(what: string): string {
    if (!this.gid)
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `${what} needs a client session (this came from a node)`);
    return this.gid;
  }

  #needUid(uid: number | undefined, what: string): number {
    const u = uid ?? this.uid;
    if (!u) throw new DuetError(ErrorCode.UID_INVALID, `${what} needs a uid (the session is not bound)`);
    return u;
  }

  /** Binds this session to `uid` on its gate (acked). Rejects UNAVAILABLE when the locator is down. */
  async bindGate(uid: number): Promise<void> {
    await this.proxy.bindGate(this.#needGate('bindGate'), this.cid, uid);
    this.uid = uid;
  }

  async unbindGate(): Promise<void> {
    await this.proxy.unbindGate(this.#needUid(undefined, 'unbindGate'), this.#needGate('unbindGate'));
    this.uid = 0;
  }

  /** Pins the user to this node for the node's name (the stateful group). */
  bindNode(uid?: number): Promise<void> {
    return this.proxy.bindNode(this.#needUid(uid, 'bindNode'));
  }

  unbindNode(uid?: number): Promise<void> {
    return this.proxy.unbindNode(this.#needUid(uid, 'unbindNode'));
  }

  /** Closes this session: graceful flushes queued pushes first. */
  disconnect(force = false): Promise<void> {
    return this.proxy.disconnect({
      kind: SessionKind.CONN,
      target: this.cid,
      gid: this.#needGate('disconnect'),
      force,
    });
  }

  getIP(): Promise<string> {
    return this.proxy.getIP({ kind: SessionKind.CONN, target: this.cid, gid: this.#needGate('getIP') });
  }

  /** Subscribes this session (or the given users) to a gate channel. */
  async subscribe(channel: string, uids?: number[]): Promise<void> {
    if (uids) await this.proxy.subscribe({ kind: SessionKind.USER, targets: uids, channel });
    else
      await this.proxy.subscribe({
        kind: SessionKind.CONN,
        targets: [this.cid],
        channel,
        gid: this.#needGate('subscribe'),
      });
  }

  async unsubscribe(channel: string, uids?: number[]): Promise<void> {
    if (uids) await this.proxy.unsubscribe({ kind: SessionKind.USER, targets: uids, channel });
    else
      await this.proxy.unsubscribe({
        kind: SessionKind.CONN,
        targets: [this.cid],
        channel,
        gid: this.#needGate('unsubscribe'),
      });
  }

  /** Sends a message to this session (seq 0 = push unless given). */
  reply(route: number, body?: unknown, seq = 0): void {
    if (this.nid && !this.gid) {
      this.proxy.deliver({ nid: this.nid, route, body, seq, cid: this.cid, uid: this.uid });
      return;
    }
    // Synchronous on purpose: a response must not cost a promise (hot path).
    this.proxy.pushToConn(this.#needGate('reply'), this.cid, { route, body, seq });
  }

  /** Runs detached work that the node's graceful stop waits for (due Task); false when the node is stopping. */
  task(fn: () => unknown): boolean {
    return this.proxy.runtime.tasks.run(fn);
  }

  /** Starts a local actor on this node (due Spawn). */
  spawn<A extends unknown[]>(kind: string, id: string, creator: ActorCreator<A>, ...args: A): Promise<Actor> {
    return this.proxy.runtime.actors.spawn(kind, id, creator, ...args);
  }

  /** This user's messages on `kind`'s actor routes go to actor `kind/id` on this node (due BindActor). */
  bindActor(kind: string, id: string): void {
    this.proxy.runtime.actors.bind(this.#needUid(undefined, 'bindActor'), kind, id);
  }

  unbindActor(kind: string): void {
    this.proxy.runtime.actors.unbind(this.#needUid(undefined, 'unbindActor'), kind);
  }

  /** Sends a message to another node's handler for `route`, keeping this session's ids. */
  deliver(nid: string, route: number, body?: unknown): void {
    this.proxy.deliver({ nid, route, body, cid: this.cid, uid: this.uid });
  }
}

/** The context of one client (or node-to-node) message. */
export class RequestContext extends SessionContext {
  readonly route: number;
  readonly seq: number;
  /** The request body: a view valid for the handler's synchronous part; copy it to keep it. */
  readonly body: Uint8Array;
  #answered = false;

  constructor(src: Source, route: number, seq: number, body: Uint8Array, proxy: ClusterProxy, codec: BodyCodec) {
    super(src, proxy, codec);
    this.route = route;
    this.seq = seq;
    this.body = body;
  }

  /** Decodes the body with the node's codec (json), or with `decoder` (a protobufjs Type for proto). */
  parse<T>(decoder?: Decoder<T>): T {
    return this.codec.decode(this.body, decoder);
  }

  /** Answers the request: same route and seq. Raw bytes and strings pass through; other values use the codec. */
  response(value?: unknown): void {
    this.#answered = true;
    this.reply(this.route, toBody(this.codec, value), this.seq);
  }

  get answered(): boolean {
    return this.#answered;
  }

  /** Hands this request to the actor this user is bound to for its route (due Next); settles when handled. */
  next(): Promise<unknown> {
    return this.proxy.runtime.actors.next(this);
  }

  /** A copy whose body outlives this handler (to queue it in a mailbox). */
  detach(): RequestContext {
    const src = { gid: this.gid, nid: this.nid, cid: this.cid, uid: this.uid };
    return new RequestContext(src, this.route, this.seq, this.body.slice(), this.proxy, this.codec);
  }
}

/** The context of a connect / reconnect / disconnect event. */
export class EventContext extends SessionContext {
  readonly event: EventName;
  constructor(src: Source, event: EventName, proxy: ClusterProxy, codec: BodyCodec) {
    super(src, proxy, codec);
    this.event = event;
  }
}
