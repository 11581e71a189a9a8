import { setTimeout as sleep } from 'node:timers/promises';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm, type KvWatchEntry } from '@nats-io/kv';
import { type Authenticator, connect, type NatsConnection, type TlsOptions } from '@nats-io/transport-node';
import { AsyncQueue } from '../async-queue.js';
import { ClosedError, ConfigError, type ErrorReporter, errorMessage, UnavailableError } from '../errors.js';
import { withDeadline } from '../lifecycle.js';
import { keyToken, parseStored, type StoredInstance, toInstance } from './nats-registry-entry.js';
import type { Registry, ServiceInstance, ServiceKind } from './registry.js';

export { keyToken, parseStored };

/**
 * Registry on NATS JetStream KV: one bucket per cluster (`duet_{cluster}`), one key per instance (`{kind}.{id}`),
 * value = the instance as JSON plus `refreshedAt` and `refreshIntervalMs`. Each registered instance is put again
 * every interval. Watchers follow the bucket with kv.watch and drop an instance not refreshed for 3 of its
 * intervals (a crashed process deletes nothing), so liveness does not depend on the server's clock; the bucket
 * also has max_age = 3 intervals so a dead instance's entry leaves the store itself.
 */

export const DEFAULT_NATS_REGISTRY_REFRESH_INTERVAL_MS = 3_000;
/** Refreshes an instance may miss before watchers drop it. */
export const NATS_REGISTRY_MISSED_REFRESHES = 3;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
const BUCKET_RE = /^[-\w]+$/;

export interface NatsRegistryOptions {
  /** Server URLs; the registry opens and owns its own connection. */
  servers?: string | string[];
  /** Credentials for the registry's own connection (the bus's `[bus.nats]` ones). */
  user?: string;
  pass?: string;
  token?: string;
  /** nkey/creds sign-in and TLS, as for the bus (see nats-security.ts). */
  authenticator?: Authenticator;
  tls?: TlsOptions;
  /** Or an open connection owned by the caller (not closed by dispose). */
  connection?: NatsConnection;
  /** Cluster name: the bucket is `duet_{cluster}`. Default "default". */
  cluster?: string;
  /** Full bucket name, overriding `cluster`. */
  bucket?: string;
  /** How often each instance is put again. Default 3 s. */
  refreshIntervalMs?: number;
  /** JetStream call timeout. Default 3 s. */
  requestTimeoutMs?: number;
  /**
   * Copies of the bucket in a NATS cluster (1, 3 or 5). Default 1; use 3 on a 3-server cluster so the registry
   * survives losing the server that holds the bucket. Only applies when this registry creates the bucket.
   */
  replicas?: number;
  /** Refresh and watch failures (they happen in the background). Default: ignored. */
  onError?: ErrorReporter;
}

/** Per key: the newest revision seen, the instance (undefined = deleted) and when it was last seen alive. */
interface Slot {
  rev: number;
  stored: StoredInstance | undefined;
  seenAt: number;
}

/** `at`: when the entry arrived, not when the watcher got round to it (the consumer may pull late). */
type WatchEvent = { entry: KvWatchEntry; at: number } | { sweep: true } | { ended: unknown };

export class NatsRegistry implements Registry {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #report: ErrorReporter;
  readonly #refreshers = new Map<string, { stored: ServiceInstance; timer: NodeJS.Timeout }>();
  readonly #closing = new AbortController();
  #closed = false;
  #disposing: Promise<void> | undefined;

  private constructor(c: {
    nc: NatsConnection;
    owns: boolean;
    kv: KV;
    jsm: JetStreamManager;
    bucket: string;
    intervalMs: number;
    opts: NatsRegistryOptions;
  }) {
    this.#nc = c.nc;
    this.#ownsConnection = c.owns;
    this.#kv = c.kv;
    this.#jsm = c.jsm;
    this.#bucket = c.bucket;
    this.#intervalMs = c.intervalMs;
    this.#timeoutMs = c.opts.requestTimeoutMs ?? 3_000;
    this.#report = c.opts.onError ?? (() => {});
  }

  /** Connects (unless given a connection) and opens or creates the bucket. Rejects with ConfigError/UnavailableError. */
  static async create(opts: NatsRegistryOptions): Promise<NatsRegistry> {
    const intervalMs = opts.refreshIntervalMs ?? DEFAULT_NATS_REGISTRY_REFRESH_INTERVAL_MS;
    const bucket = opts.bucket ?? `duet_${opts.cluster ?? 'default'}`;
    const replicas = opts.replicas ?? 1;
    const timeout = opts.requestTimeoutMs ?? 3_000;
    const bad = (path: string, value: unknown, rule: string) => new ConfigError(path, value, `${path} ${rule}`);
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw bad('registry.nats.refreshInterval', intervalMs, `must be a positive number of ms, got ${intervalMs}`);
    }
    if (!BUCKET_RE.test(bucket)) {
      throw bad('registry.nats.bucket', bucket, `must use only letters, digits, "_" and "-", got "${bucket}"`);
    }
    if (![1, 3, 5].includes(replicas))
      throw bad('registry.nats.replicas', replicas, `must be 1, 3 or 5, got ${replicas}`);
    if (!opts.connection && !opts.servers)
      throw bad('registry.nats.servers', opts.servers, 'or a connection is needed');
    let nc = opts.connection;
    const owns = nc === undefined;
    try {
      nc ??= await connect({
        servers: opts.servers,
        name: 'duet-registry',
        maxReconnectAttempts: -1,
        user: opts.user,
        pass: opts.pass,
        token: opts.token,
        authenticator: opts.authenticator,
        tls: opts.tls,
      });
      const ttl = intervalMs * NATS_REGISTRY_MISSED_REFRESHES;
      const kv = await new Kvm(nc).create(bucket, { history: 1, replicas, ttl, timeout });
      const jsm = await jetstreamManager(nc, { timeout });
      return new NatsRegistry({ nc, owns, kv, jsm, bucket, intervalMs, opts });
    } catch (err) {
      if (owns) await nc?.close().catch(() => {});
      throw new UnavailableError(`nats registry bucket ${bucket} could not be opened: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** Puts the instance now and every interval after; a second call with the same kind+id is a state change. */
  async register(instance: ServiceInstance, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new ClosedError('registry is closed');
    signal?.throwIfAborted();
    const key = `${instance.kind}.${keyToken(instance.id)}`;
    const copy = structuredClone(instance);
    const prev = this.#refreshers.get(key);
    if (prev) clearInterval(prev.timer);
    const timer = setInterval(() => {
      const current = this.#refreshers.get(key);
      if (current)
        this.#put(key, current.stored).catch((err: unknown) => this.#report(err, `nats registry refresh ${key}`));
    }, this.#intervalMs);
    timer.unref();
    this.#refreshers.set(key, { stored: copy, timer });
    try {
      await this.#put(key, copy);
    } catch (err) {
      // A failed state change keeps refreshing (the next put carries it); a failed first register leaves nothing.
      if (!prev && this.#refreshers.get(key)?.timer === timer) {
        clearInterval(timer);
        this.#refreshers.delete(key);
      }
      throw err;
    }
  }

  /** Stops refreshing and deletes the key; deleting a key that is gone is harmless. */
  async deregister(instance: ServiceInstance, signal?: AbortSignal): Promise<void> {
    const key = `${instance.kind}.${keyToken(instance.id)}`;
    const r = this.#refreshers.get(key);
    if (r) clearInterval(r.timer);
    this.#refreshers.delete(key);
    if (this.#closing.signal.aborted) return;
    signal?.throwIfAborted();
    await this.#kvCall(`delete ${key}`, () => this.#kv.delete(key));
  }

  async services(kind: ServiceKind, signal?: AbortSignal): Promise<ServiceInstance[]> {
    if (this.#closed) throw new ClosedError('registry is closed');
    signal?.throwIfAborted();
    return this.#alive(await this.#snapshot(kind));
  }

  /**
   * The live instances now, then again whenever that list changes (an update, a delete, or an instance dropped
   * for missing 3 refreshes). A broken watch is reported and restarted with backoff; the stream ends when
   * `signal` aborts or the registry is disposed.
   */
  watch(kind: ServiceKind, signal: AbortSignal): AsyncIterable<ServiceInstance[]> {
    return this.#watch(kind, signal);
  }

  async *#watch(kind: ServiceKind, signal: AbortSignal): AsyncGenerator<ServiceInstance[]> {
    const stop = new AbortController();
    // Detaches itself: a consumer that never pulls again must not leave listeners on the long-lived signals.
    const onAbort = (): void => {
      signal.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onAbort);
      stop.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.#closing.signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted || this.#closing.signal.aborted) stop.abort();
    let delayMs = RETRY_MIN_MS;
    let last: string | undefined;
    try {
      while (!stop.signal.aborted) {
        const events = new AsyncQueue<WatchEvent>();
        let isSweepQueued = false; // one pending sweep is enough, however long the consumer takes to pull
        const sweeper = setInterval(() => {
          if (!isSweepQueued) isSweepQueued = events.push({ sweep: true });
        }, this.#intervalMs);
        sweeper.unref();
        let iter: Awaited<ReturnType<KV['watch']>> | undefined;
        // Releases the timer and the server-side consumer at abort even if the consumer is parked at a yield.
        const release = (): void => {
          events.end();
          clearInterval(sweeper);
          iter?.stop();
        };
        stop.signal.addEventListener('abort', release, { once: true });
        try {
          // Watch first, then read the snapshot: a change in between arrives through the watch with a newer revision.
          iter = await this.#kvCall(`watch ${kind}`, () => this.#kv.watch({ key: `${kind}.>` }));
          if (stop.signal.aborted) iter.stop();
          const source = iter;
          (async () => {
            for await (const entry of source) events.push({ entry, at: Date.now() });
            events.push({ ended: new UnavailableError(`nats registry watch ${kind} ended`) });
          })().catch((err: unknown) => events.push({ ended: err }));
          const slots = await this.#snapshot(kind);
          const pull = events[Symbol.asyncIterator]();
          delayMs = RETRY_MIN_MS;
          for (;;) {
            const list = this.#alive(slots);
            const key = JSON.stringify(list);
            if (key !== last) {
              last = key;
              yield list;
            }
            // Apply everything queued before judging staleness, so a sweep is never ahead of puts that came in.
            do {
              const r = await pull.next();
              if (r.done) return;
              if ('ended' in r.value) throw r.value.ended;
              if ('entry' in r.value) this.#apply(slots, r.value.entry, r.value.at);
              else isSweepQueued = false;
            } while (events.size > 0);
          }
        } catch (err) {
          if (stop.signal.aborted) return;
          this.#report(err, `nats registry watch ${kind}`);
          try {
            await sleep(delayMs, undefined, { signal: stop.signal });
          } catch {
            return;
          }
          delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
        } finally {
          stop.signal.removeEventListener('abort', release);
          release();
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onAbort);
    }
  }

  #apply(slots: Map<string, Slot>, e: KvWatchEntry, at: number): void {
    const prev = slots.get(e.key);
    if (prev && prev.rev >= e.revision) return;
    const stored = e.operation === 'PUT' ? parseStored(e.value) : undefined;
    slots.set(e.key, { rev: e.revision, stored, seenAt: at });
  }

  /** Sorted by id so equal lists compare equal; stale entries are left out (and come back with their next put). */
  #alive(slots: Map<string, Slot>, now = Date.now()): ServiceInstance[] {
    return [...slots.values()]
      .flatMap((s) => (s.stored && !this.#isStale(s, now) ? [toInstance(s.stored)] : []))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  #isStale(s: Slot, now: number): boolean {
    const interval = s.stored?.refreshIntervalMs ?? this.#intervalMs;
    return now - s.seenAt > interval * NATS_REGISTRY_MISSED_REFRESHES;
  }

  /**
   * Every key of one kind with its revision. Keys come from the stream's per-subject counts and values from direct
   * gets, so no consumer is created (kv.keys() would leave one on the server for its 5 min inactivity window on
   * every call). seenAt is the server's write time capped at now: the only clue to an entry's age before this
   * process has seen it change.
   */
  async #snapshot(kind: ServiceKind): Promise<Map<string, Slot>> {
    const prefix = `$KV.${this.#bucket}.`;
    const info = await this.#kvCall(`list ${kind}`, () =>
      this.#jsm.streams.info(`KV_${this.#bucket}`, { subjects_filter: `${prefix}${kind}.>` }),
    );
    const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
    const slots = new Map<string, Slot>();
    const now = Date.now();
    await Promise.all(
      keys.map(async (k) => {
        const e: KvEntry | null = await this.#kvCall(`get ${k}`, () => this.#kv.get(k));
        if (!e) return;
        const stored = e.operation === 'PUT' ? parseStored(e.value) : undefined;
        slots.set(k, { rev: e.revision, stored, seenAt: Math.min(now, e.created.getTime()) });
      }),
    );
    return slots;
  }

  async #put(key: string, instance: ServiceInstance): Promise<void> {
    const stored: StoredInstance = { ...instance, refreshedAt: Date.now(), refreshIntervalMs: this.#intervalMs };
    await this.#kvCall(`put ${key}`, () => this.#kv.put(key, JSON.stringify(stored), { timeout: this.#timeoutMs }));
  }

  async #kvCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closing.signal.aborted) throw new ClosedError('registry is closed');
    try {
      return await fn();
    } catch (err) {
      throw new UnavailableError(`nats registry ${what} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Stops refreshing, deletes what it registered (within the request timeout), ends watches, closes its connection. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    this.#closed = true;
    const keys = [...this.#refreshers.keys()];
    for (const r of this.#refreshers.values()) clearInterval(r.timer);
    this.#refreshers.clear();
    const remove = (k: string): Promise<void> =>
      withDeadline(this.#kv.delete(k), this.#timeoutMs, `nats registry delete ${k}`).catch((err: unknown) =>
        this.#report(err, `nats registry delete ${k} on dispose`),
      );
    if (!this.#nc.isClosed()) await Promise.all(keys.map(remove));
    this.#closing.abort(new ClosedError('registry is closed'));
    if (this.#ownsConnection) await this.#nc.close().catch((err: unknown) => this.#report(err, 'nats registry close'));
  }
}

/** createX convention (docs/contributing.md). */
export const createNatsRegistry = (opts: NatsRegistryOptions): Promise<NatsRegistry> => NatsRegistry.create(opts);
