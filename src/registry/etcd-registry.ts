import { setTimeout as sleep } from 'node:timers/promises';
import { noop } from 'cockatiel';
import { Etcd3, type IOptions, type IWatchResponse, type Watcher } from 'etcd3';
import { AsyncQueue } from '../async-queue.js';
import { ClosedError, ConfigError, type ErrorReporter, errorMessage, UnavailableError } from '../errors.js';
import { withDeadline } from '../lifecycle.js';
import { decodeEtcdInstance, encodeEtcdInstance, etcdKey, etcdPrefix } from './etcd-instance.js';
import { LeasedKey } from './etcd-lease.js';
import type { Registry, ServiceInstance, ServiceKind } from './registry.js';

/**
 * Registry on etcd v3 with due's layout (due registry/etcd): key `/{namespace}/{kind}/{id}`, value the instance
 * as due's JSON (etcd-instance.ts), put under a lease of retryInterval + 1 seconds that is kept alive (LeasedKey),
 * deleted on deregister. watch() is a range read of the prefix and then an etcd watch from the next revision; any
 * watch failure starts over with a fresh read, so a restarted (even wiped) etcd is followed.
 */

export const DEFAULT_ETCD_ADDRS = ['127.0.0.1:2379'];
export const DEFAULT_ETCD_DIAL_TIMEOUT_MS = 5_000;
export const DEFAULT_ETCD_NAMESPACE = 'services';
export const DEFAULT_ETCD_TIMEOUT_MS = 3_000;
export const DEFAULT_ETCD_RETRY_TIMES = 3;
export const DEFAULT_ETCD_RETRY_INTERVAL_MS = 10_000;
const WATCH_RETRY_MIN_MS = 200;
const WATCH_RETRY_MAX_MS = 5_000;

export interface EtcdRegistryOptions {
  /** host:port (or http(s)://host:port) of etcd members. Default 127.0.0.1:2379. */
  addrs?: string[];
  dialTimeoutMs?: number;
  /** First key segment. Default "services" (due). */
  namespace?: string;
  /** Deadline of one etcd call. Default 3 s. */
  timeoutMs?: number;
  username?: string;
  password?: string;
  /** Quick re-register attempts after a lost lease. Default 3. */
  retryTimes?: number;
  /** Lease TTL is this + 1 s; also the slow retry interval. Default 10 s. */
  retryIntervalMs?: number;
  /** Where lease and watch failures go (they happen in the background). Default: ignored. */
  onError?: ErrorReporter;
}

type WatchEvent = { kind: 'data'; res: IWatchResponse } | { kind: 'failed'; err: unknown };

function positive(key: string, v: number | undefined, dflt: number, integer = false): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ConfigError(`registry.etcd.${key}`, v, `registry.etcd.${key} must be a positive number, got ${v}`);
  }
  return v;
}

function hostUrl(addr: string): string {
  if (/^https?:\/\//.test(addr)) return addr;
  if (!/^[^\s/]+:\d{1,5}$/.test(addr)) {
    throw new ConfigError('registry.etcd.addrs', addr, `registry.etcd.addrs entries must be host:port, got "${addr}"`);
  }
  return `http://${addr}`;
}

/** Cancels a watcher without waiting: a cancel on a dead connection may never answer. */
function drop(watcher: Watcher | undefined): void {
  if (!watcher) return;
  watcher.removeAllListeners();
  watcher.on('error', () => {});
  watcher.cancel().catch(() => {});
}

function sorted(map: ReadonlyMap<string, ServiceInstance>): ServiceInstance[] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

export class EtcdRegistry implements Registry {
  readonly #client: Etcd3;
  readonly #namespace: string;
  readonly #timeoutMs: number;
  readonly #retryTimes: number;
  readonly #retryIntervalMs: number;
  readonly #report: ErrorReporter;
  readonly #keys = new Map<string, LeasedKey>();
  readonly #closing = new AbortController();
  #disposing: Promise<void> | undefined;

  constructor(opts: EtcdRegistryOptions = {}) {
    const addrs = opts.addrs ?? DEFAULT_ETCD_ADDRS;
    if (addrs.length === 0) throw new ConfigError('registry.etcd.addrs', addrs, 'registry.etcd.addrs is empty');
    const hosts = addrs.map(hostUrl);
    const namespace = opts.namespace ?? DEFAULT_ETCD_NAMESPACE;
    if (namespace === '' || namespace.includes('/')) {
      throw new ConfigError('registry.etcd.namespace', namespace, 'registry.etcd.namespace must be one key segment');
    }
    this.#namespace = namespace;
    this.#timeoutMs = positive('timeout', opts.timeoutMs, DEFAULT_ETCD_TIMEOUT_MS);
    this.#retryTimes = positive('retryTimes', opts.retryTimes, DEFAULT_ETCD_RETRY_TIMES, true);
    this.#retryIntervalMs = positive('retryInterval', opts.retryIntervalMs, DEFAULT_ETCD_RETRY_INTERVAL_MS);
    this.#report = opts.onError ?? (() => {});
    const options: IOptions = {
      hosts,
      dialTimeout: positive('dialTimeout', opts.dialTimeoutMs, DEFAULT_ETCD_DIAL_TIMEOUT_MS),
      // One attempt per call: retries and backoff are ours (lease keeper, watch loop). The package's default
      // circuit breaker would refuse every call for 5 s after three failures, also once etcd is back.
      faultHandling: { host: () => noop, global: noop },
    };
    if (opts.username) options.auth = { username: opts.username, password: opts.password ?? '' };
    this.#client = new Etcd3(options);
  }

  /** Registers, or puts the new value of an instance already registered (a state change) under its lease. */
  async register(instance: ServiceInstance, signal?: AbortSignal): Promise<void> {
    this.#throwIfClosed();
    const key = etcdKey(this.#namespace, instance);
    const value = encodeEtcdInstance(instance);
    const known = this.#keys.get(key);
    if (known) return known.update(value, signal);
    const leased = new LeasedKey(this.#client, key, value, {
      // due grants retryInterval (in whole seconds) + 1.
      ttlSec: Math.max(1, Math.floor(this.#retryIntervalMs / 1000)) + 1,
      timeoutMs: this.#timeoutMs,
      retryTimes: this.#retryTimes,
      retryIntervalMs: this.#retryIntervalMs,
      report: this.#report,
    });
    this.#keys.set(key, leased);
    try {
      await leased.start(signal);
    } catch (err) {
      if (this.#keys.get(key) === leased) this.#keys.delete(key);
      leased.release();
      throw err;
    }
  }

  async deregister(instance: ServiceInstance, signal?: AbortSignal): Promise<void> {
    const key = etcdKey(this.#namespace, instance);
    const leased = this.#keys.get(key);
    this.#keys.delete(key);
    if (this.#closing.signal.aborted) return leased?.release();
    if (leased) return leased.stop(signal);
    await this.#call(`delete ${key}`, signal, () => this.#client.delete().key(key).exec());
  }

  async services(kind: ServiceKind, signal?: AbortSignal): Promise<ServiceInstance[]> {
    this.#throwIfClosed();
    return sorted((await this.#read(kind, signal)).map);
  }

  watch(kind: ServiceKind, signal: AbortSignal): AsyncIterable<ServiceInstance[]> {
    return this.#watch(kind, signal);
  }

  async *#watch(kind: ServiceKind, signal: AbortSignal): AsyncGenerator<ServiceInstance[]> {
    const stop = AbortSignal.any([signal, this.#closing.signal]);
    let delay = WATCH_RETRY_MIN_MS;
    let last: string | undefined;
    const emit = (map: ReadonlyMap<string, ServiceInstance>): ServiceInstance[] | undefined => {
      const list = sorted(map);
      const text = JSON.stringify(list);
      if (text === last) return undefined;
      last = text;
      return list;
    };
    while (!stop.aborted) {
      let watcher: Watcher | undefined;
      const events = new AsyncQueue<WatchEvent>();
      // Runs even while the consumer is not pulling (the generator parked at a yield never reaches finally).
      const onStop = (): void => {
        events.end();
        drop(watcher);
      };
      stop.addEventListener('abort', onStop, { once: true });
      try {
        const { map, revision } = await this.#read(kind, stop);
        const first = emit(map);
        if (first) yield first;
        watcher = await this.#call(`watch ${kind}`, stop, () =>
          this.#client
            .watch()
            .prefix(etcdPrefix(this.#namespace, kind))
            .startRevision(String(revision + 1n))
            .create(),
        );
        if (stop.aborted) drop(watcher);
        watcher.on('data', (res) => events.push({ kind: 'data', res }));
        watcher.on('disconnected', (err) => events.push({ kind: 'failed', err }));
        watcher.on('error', (err) => events.push({ kind: 'failed', err }));
        delay = WATCH_RETRY_MIN_MS;
        for await (const ev of events) {
          if (ev.kind === 'failed') throw new UnavailableError(`etcd watch ${kind}: ${errorMessage(ev.err)}`);
          for (const e of ev.res.events) {
            const key = e.kv.key.toString('utf8');
            const ins = e.type === 'Put' ? decodeEtcdInstance(e.kv.value.toString('utf8')) : undefined;
            if (ins) map.set(key, ins);
            else map.delete(key);
          }
          const list = emit(map);
          if (list) yield list;
        }
      } catch (err) {
        if (stop.aborted) return;
        this.#report(err, `etcd watch ${kind}; reading again`);
        try {
          await sleep(delay, undefined, { signal: stop });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, WATCH_RETRY_MAX_MS);
      } finally {
        stop.removeEventListener('abort', onStop);
        events.end();
        drop(watcher);
      }
    }
  }

  /** The instances under the kind's prefix and the revision they were read at. */
  async #read(
    kind: ServiceKind,
    signal: AbortSignal | undefined,
  ): Promise<{ map: Map<string, ServiceInstance>; revision: bigint }> {
    const res = await this.#call(`get ${kind}`, signal, () =>
      this.#client.getAll().prefix(etcdPrefix(this.#namespace, kind)).exec(),
    );
    const map = new Map<string, ServiceInstance>();
    for (const kv of res.kvs) {
      const ins = decodeEtcdInstance(kv.value.toString('utf8'));
      if (ins) map.set(kv.key.toString('utf8'), ins);
    }
    return { map, revision: BigInt(res.header.revision) };
  }

  async #call<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    const stop = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    let onAbort: (() => void) | undefined;
    try {
      const work = fn();
      work.catch(() => {});
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(stop.reason);
        stop.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => {});
      return await withDeadline(Promise.race([work, aborted]), this.#timeoutMs, `etcd ${what}`);
    } catch (err) {
      signal?.throwIfAborted();
      this.#closing.signal.throwIfAborted();
      throw new UnavailableError(`etcd ${what} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      if (onAbort) stop.removeEventListener('abort', onAbort);
    }
  }

  #throwIfClosed(): void {
    if (this.#disposing) throw new ClosedError('registry is closed');
  }

  /** Deletes what this registry registered (timeout each), then ends watches and closes the client. Safe twice. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    const keys = [...this.#keys.values()];
    this.#keys.clear();
    await Promise.all(
      keys.map((k) =>
        k.stop().catch((err: unknown) => {
          k.release();
          this.#report(err, `etcd deregister ${k.key} on dispose`);
        }),
      ),
    );
    this.#closing.abort(new ClosedError('registry is closed'));
    this.#client.close();
  }
}
