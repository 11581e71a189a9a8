import { ClosedError, DuetError, type ErrorReporter, errorMessage, UnavailableError } from '../errors.js';
import { abortable, ConditionWaiters } from './condition-waiters.js';
import { DEFAULT_CACHE_MAX_USERS, LocateCache, type LocateCacheStats } from './locate-cache.js';
import { LocateWatchers } from './locate-watchers.js';
import { type LocateEvent, LocateEventType, type LocateKind, type Locator, type Uid } from './locator.js';
import { ReconnectSignal } from './reconnect-signal.js';
import { claimCall, runClaim } from './redis-claim.js';
import {
  createRedisClient,
  DEFAULT_CONNECT_TIMEOUT_MS,
  quitThenDisconnect,
  type RedisClient,
  type RedisConnectOptions,
} from './redis-connect.js';
import { DEFAULT_LOCATE_PREFIX, encodeEvent, eventChannel, gateKey, nodeKey, parseEvent } from './redis-layout.js';
import { RedisPlacement } from './redis-placement.js';
import { RedisWriteBatch, type WriteKind, type WriteReply } from './redis-write-batch.js';
import { checkUid } from './uid.js';

export interface RedisLocatorOptions extends RedisConnectOptions {
  /** due `locate.redis.prefix`; default `due:locate`, so keys read `due:locate:locate:user:{uid}:gate`. */
  prefix?: string;
  /** Users kept in the local cache before the oldest are evicted. Default 100,000. */
  cacheMaxUsers?: number;
  /** Calls made before the very first connection wait this long for it. Default connectTimeoutMs (3 s). */
  startupWaitMs?: number;
  /** Where connection failures go, once per outage (not per reconnect attempt). Default: counted only. */
  onError?: ErrorReporter;
}

export interface RedisLocatorStats extends LocateCacheStats {
  /** Messages on the event channels that were not well-formed events (other writers share them). */
  malformedEvents: number;
  /** 'error' events of either connection (every failed reconnect attempt counts). */
  connectionErrors: number;
  /** Times the command connection came back after being lost. */
  reconnects: number;
}

export type RedisLocatorStatus = 'connecting' | 'ready' | 'degraded' | 'down' | 'closed';

/**
 * The locator on Redis with due's key layout, so duet and due instances can share
 * one Redis. Two connections: commands, and a dedicated subscriber to both event channels that feeds the local
 * cache and the watchers.
 *
 * Outage behaviour: binds and unbinds reject with UnavailableError at once while the connection is down (nothing
 * is queued); lookups answer from the cache when it holds the uid, else reject UnavailableError. The cache is
 * dropped whenever a connection is re-established, because events may have been lost meanwhile (due never
 * resyncs, so a lost message leaves its caches stale until the next change).
 */
export class RedisLocator implements Locator {
  readonly prefix: string;
  readonly #cmd: RedisClient;
  readonly #sub: RedisClient;
  readonly #batch: RedisWriteBatch;
  readonly #cache: LocateCache;
  readonly #channels: Readonly<Record<LocateKind, string>>;
  readonly #watchers = new LocateWatchers();
  readonly #waiters = new ConditionWaiters();
  readonly #startupWaitMs: number;
  readonly #onError: ErrorReporter;
  readonly #reconnected = new ReconnectSignal();
  #everReady = false;
  #everLive = false;
  #lastError: unknown;
  #cmdReported = false;
  #subReported = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #malformed = 0;
  #connectionErrors = 0;
  #reconnects = 0;
  readonly #placement: RedisPlacement;
  readonly locateNodes: Locator['locateNodes'] = (uid, s) => {
    this.#check(uid, s);
    return this.#placement.locateNodes(nodeKey(this.prefix, uid), s);
  };
  // Actor placement (redis-placement.ts): duet's own keys beside due's.
  readonly renewLease: Locator['renewLease'] = (nid, ttlMs, s) => this.#placement.renewLease(nid, ttlMs, s);
  readonly dropLease: Locator['dropLease'] = (nid, s) => this.#placement.dropLease(nid, s);
  readonly placeActor: Locator['placeActor'] = (key, nid, s) => this.#placement.placeActor(key, nid, s);
  readonly releaseActor: Locator['releaseActor'] = (key, p, s) => this.#placement.releaseActor(key, p, s);
  readonly locateActor: Locator['locateActor'] = (key, s) => this.#placement.locateActor(key, s);

  /** Connects at once; await `ready()` to know both connections are up and the subscription confirmed. */
  constructor(opts: RedisLocatorOptions = {}) {
    this.prefix = opts.prefix ?? DEFAULT_LOCATE_PREFIX;
    this.#channels = { gate: eventChannel(this.prefix, 'gate'), node: eventChannel(this.prefix, 'node') };
    this.#cache = new LocateCache(opts.cacheMaxUsers ?? DEFAULT_CACHE_MAX_USERS);
    this.#startupWaitMs = opts.startupWaitMs ?? opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#onError = opts.onError ?? (() => {});
    this.#cmd = createRedisClient(opts, 'duet-locate');
    this.#placement = new RedisPlacement(this.prefix, (what, signal, fn) =>
      this.#call(what, signal, () => fn(this.#cmd)),
    );
    this.#sub = createRedisClient(opts, 'duet-locate-events', 'events');
    const maxWritesPerCall = (opts.addrs?.length ?? 0) > 1 ? 1 : undefined;
    this.#batch = new RedisWriteBatch(this.#cmd, {
      gateChannel: this.#channels.gate,
      nodeChannel: this.#channels.node,
      maxWritesPerCall,
    });
    // Listeners are attached before the first tick, so no 'error' event is ever unhandled.
    this.#cmd.on('ready', () => this.#onCmdReady());
    this.#cmd.on('error', (err: Error) => this.#onConnError(err, 'cmd'));
    this.#cmd.on('close', () => {
      // A killed server closes the socket without an 'error' event; callers still get a cause.
      this.#lastError ??= new Error('redis connection closed');
      this.#notify();
    });
    this.#sub.on('ready', () => this.#onSubReady());
    this.#sub.on('error', (err: Error) => this.#onConnError(err, 'sub'));
    this.#sub.on('close', () => {
      this.#cache.live = false;
      this.#notify();
    });
    this.#sub.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
  }

  /**
   * For health checks and logs: `connecting` before the first connection, `ready`, `degraded` (commands work but
   * the event subscription is not confirmed, so lookups bypass the cache), `down` (calls fail at once, cached
   * lookups still answer), `closed`.
   */
  get status(): RedisLocatorStatus {
    if (this.#closed) return 'closed';
    if (this.#cmd.status !== 'ready') return this.#everReady ? 'down' : 'connecting';
    return this.#cache.live ? 'ready' : 'degraded';
  }

  /** True while commands can be sent and the cache is fed by a confirmed subscription. */
  get isReady(): boolean {
    return !this.#closed && this.#cmd.status === 'ready' && this.#cache.live;
  }

  /**
   * Resolves once both connections are up and the event subscription is confirmed (watchers then miss nothing
   * published afterwards). Rejects UnavailableError after `timeoutMs` (default startupWaitMs), ClosedError after
   * dispose, or the signal's reason. Safe to call any number of times.
   */
  ready(signal?: AbortSignal, timeoutMs = this.#startupWaitMs): Promise<void> {
    return this.#waitFor(() => this.isReady, timeoutMs, signal, 'ready');
  }

  stats(): RedisLocatorStats {
    return {
      ...this.#cache.stats,
      malformedEvents: this.#malformed,
      connectionErrors: this.#connectionErrors,
      reconnects: this.#reconnects,
    };
  }

  /** Resolves with the gate uid was bound to before (undefined for none), read in the same call as the write. */
  async bindGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<string | undefined> {
    this.#check(uid, signal);
    const ev = encodeEvent({ uid, type: LocateEventType.BIND_GATE, insID: gid, insKind: 'gate', insName: '' });
    const forget = (): void => this.#cache.forgetGate(uid);
    const r = await this.#write('bindGate', 'bg', gateKey(this.prefix, uid), gid, '', ev, forget, signal);
    return r.previous === '' ? undefined : r.previous;
  }

  async unbindGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<void> {
    this.#check(uid, signal);
    const ev = encodeEvent({ uid, type: LocateEventType.UNBIND_GATE, insID: gid, insKind: 'gate', insName: '' });
    const forget = (): void => this.#cache.forgetGate(uid);
    await this.#write('unbindGate', 'ug', gateKey(this.prefix, uid), gid, '', ev, forget, signal);
  }

  async bindNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<void> {
    this.#check(uid, signal);
    const ev = encodeEvent({ uid, type: LocateEventType.BIND_NODE, insID: nid, insKind: 'node', insName: name });
    const forget = (): void => this.#cache.forgetNode(uid, name);
    await this.#write('bindNode', 'bn', nodeKey(this.prefix, uid), name, nid, ev, forget, signal);
  }

  async unbindNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<void> {
    this.#check(uid, signal);
    const ev = encodeEvent({ uid, type: LocateEventType.UNBIND_NODE, insID: nid, insKind: 'node', insName: name });
    const forget = (): void => this.#cache.forgetNode(uid, name);
    await this.#write('unbindNode', 'un', nodeKey(this.prefix, uid), name, nid, ev, forget, signal);
  }

  claimGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<string> {
    return this.#claim(uid, 'gate', '', gid, signal);
  }

  claimNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<string> {
    return this.#claim(uid, 'node', name, nid, signal);
  }

  async #claim(uid: Uid, kind: LocateKind, name: string, id: string, signal?: AbortSignal): Promise<string> {
    this.#check(uid, signal);
    const c = claimCall(this.prefix, this.#channels[kind], { uid, kind, name, id });
    const owner = await this.#call(c.what, signal, () => runClaim(this.#cmd, c));
    if (kind === 'gate') this.#cache.forgetGate(uid);
    else this.#cache.forgetNode(uid, name);
    return owner;
  }

  onReconnect(listener: () => void): () => void {
    return this.#reconnected.on(listener);
  }

  async locateGate(uid: Uid, signal?: AbortSignal): Promise<string | undefined> {
    this.#check(uid, signal);
    const key = gateKey(this.prefix, uid);
    const cached = this.#cache.gate(uid);
    return this.#lookup(cached, signal, () =>
      this.#cache.loadGate(uid, () => this.#call('locateGate', undefined, () => this.#readString('GET', key))),
    );
  }

  async locateNode(uid: Uid, name: string, signal?: AbortSignal): Promise<string | undefined> {
    this.#check(uid, signal);
    const key = nodeKey(this.prefix, uid);
    const cached = this.#cache.node(uid, name);
    return this.#lookup(cached, signal, () =>
      this.#cache.loadNode(uid, name, () =>
        this.#call('locateNode', undefined, () => this.#readString('HGET', key, name)),
      ),
    );
  }

  /**
   * Change events of `kinds` from every instance (this one included), in the order Redis published them, until
   * `signal` aborts or the locator is disposed. Only events published after `ready()` resolved are guaranteed.
   * Each event object is frozen and shared between watchers.
   */
  watch(kinds: readonly LocateKind[], signal: AbortSignal): AsyncIterable<LocateEvent> {
    return this.#watchers.add(kinds, signal, !this.#closed);
  }

  /** Ends watchers, then QUIT on both connections (1 s at most) and disconnect. Safe to call twice. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#watchers.endAll();
    this.#notify();
    // Writes queued this turn go out before QUIT, so they are answered rather than refused.
    this.#batch.flush();
    await Promise.all([quitThenDisconnect(this.#cmd), quitThenDisconnect(this.#sub)]);
    this.#cache.live = false;
    this.#cache.drop();
  }

  #check(uid: Uid, signal: AbortSignal | undefined): void {
    if (this.#closed) throw new ClosedError('redis locator is closed');
    checkUid(uid);
    signal?.throwIfAborted();
  }

  /** Cache first while it is trustworthy; else one shared read; an outage falls back to whatever is cached. */
  async #lookup(
    cached: string | null | undefined,
    signal: AbortSignal | undefined,
    load: () => Promise<string | null>,
  ): Promise<string | undefined> {
    if (cached !== undefined && this.#cache.live) {
      this.#cache.hit();
      return cached ?? undefined;
    }
    try {
      // The read is shared by every concurrent caller, so only this caller's wait is aborted, not the read.
      return (await abortable(load(), signal)) ?? undefined;
    } catch (err) {
      if (cached === undefined || !(err instanceof UnavailableError)) throw err;
      this.#cache.hit();
      return cached ?? undefined;
    }
  }

  async #readString(command: 'GET' | 'HGET', ...args: string[]): Promise<string | null> {
    const reply = await this.#cmd.call(command, ...args);
    if (reply === null || typeof reply === 'string') return reply;
    if (Buffer.isBuffer(reply)) return reply.toString('utf8');
    throw new UnavailableError(`redis locator: ${command} ${args[0]} returned ${typeof reply}, expected a string`);
  }

  /**
   * Joins this turn's batch (redis-write-batch.ts). On success `forget` drops this instance's entry for the key,
   * so its next lookup reads the new value even if the change's own event has not arrived yet. A failed call
   * leaves the cache alone: during an outage it must keep answering, and a write that failed but did apply is
   * corrected by its event, or by the drop when the connection returns.
   */
  async #write(
    what: string,
    kind: WriteKind,
    key: string,
    a: string,
    b: string,
    event: string,
    forget: () => void,
    signal?: AbortSignal,
  ): Promise<WriteReply> {
    const r = await this.#call(what, signal, () => this.#batch.add(kind, key, a, b, event));
    forget();
    return r;
  }

  /** Runs one Redis exchange; every failure becomes UnavailableError with the cause kept. */
  async #call<T>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new ClosedError('redis locator is closed');
    signal?.throwIfAborted();
    if (this.#cmd.status !== 'ready') {
      // Down after having been up: fail now rather than queue (callers have their own retry policy).
      if (this.#everReady) {
        throw new UnavailableError(`redis locator: ${what} failed, redis is not connected (${this.#cmd.status})`, {
          cause: this.#lastError,
        });
      }
      await this.#waitFor(() => this.#cmd.status === 'ready', this.#startupWaitMs, signal, what);
    }
    try {
      return await abortable(run(), signal);
    } catch (err) {
      if ((signal?.aborted && err === signal.reason) || err instanceof DuetError) throw err;
      throw new UnavailableError(`redis locator: ${what} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  #waitFor(cond: () => boolean, ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    return this.#waiters.wait(
      cond,
      ms,
      signal,
      () =>
        new UnavailableError(`redis locator: ${what}: redis not reachable within ${ms} ms`, { cause: this.#lastError }),
      () => (this.#closed ? new ClosedError('redis locator is closed') : undefined),
    );
  }

  #notify(): void {
    this.#waiters.notify();
  }

  #onCmdReady(): void {
    if (this.#closed) return;
    if (this.#everReady) {
      this.#reconnects++;
      this.#cache.drop();
      for (const err of this.#reconnected.fire()) this.#onError(err, 'redis locator reconnect listener');
      this.#batch.forgetScript();
    }
    this.#everReady = true;
    this.#cmdReported = false;
    this.#lastError = undefined;
    this.#notify();
  }

  #onSubReady(): void {
    if (this.#closed) return;
    this.#cache.live = false;
    this.#sub.subscribe(this.#channels.gate, this.#channels.node).then(
      () => {
        if (this.#closed) return;
        // Whatever was cached before this subscription may have missed events: start over.
        if (this.#everLive) this.#cache.drop();
        this.#everLive = true;
        this.#cache.live = true;
        this.#subReported = false;
        this.#notify();
      },
      // The connection dropped again before SUBSCRIBE answered; the next 'ready' retries.
      (err: unknown) => this.#onConnError(err, 'sub'),
    );
  }

  #onConnError(err: unknown, which: 'cmd' | 'sub'): void {
    this.#connectionErrors++;
    this.#lastError = err;
    if (this.#closed) return;
    // Report once per outage: ioredis emits an error for every failed reconnect attempt.
    if (which === 'cmd' ? this.#cmdReported : this.#subReported) return;
    if (which === 'cmd') this.#cmdReported = true;
    else this.#subReported = true;
    this.#onError(err, `redis locator ${which === 'cmd' ? 'command' : 'event'} connection`);
  }

  #onMessage(channel: string, message: string): void {
    const kind = channel === this.#channels.gate ? 'gate' : channel === this.#channels.node ? 'node' : undefined;
    if (kind === undefined || this.#closed) return;
    const e = parseEvent(message, kind);
    if (e === undefined) {
      this.#malformed++;
      return;
    }
    Object.freeze(e);
    this.#cache.apply(e);
    this.#watchers.emit(e);
  }
}
