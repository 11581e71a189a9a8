import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import Consul from 'consul';
import { ClosedError, ConfigError, type ErrorReporter, errorMessage, UnavailableError } from '../errors.js';
import { withDeadline } from '../lifecycle.js';
import {
  decodeHealthEntries,
  consulDuration as duration,
  type ServiceBody,
  serviceId,
  serviceRegistration,
} from './consul-meta.js';
import { type ConsulTlsFiles, consulTlsAgent, positive, splitAddr } from './consul-options.js';
import type { Registry, ServiceInstance, ServiceKind } from './registry.js';

/**
 * Registry on a Consul agent with due's layout: one agent service
 * per instance, Name = kind, ID = "{kind}-{id}", Meta as in consul-meta.ts, a TTL check "service:{ID}" refreshed
 * at once and every heartbeatCheckInterval/2, DeregisterCriticalServiceAfter on every check, register again on a
 * state change, deregister on deregister()/dispose. watch() is due's blocking-query loop over passing instances.
 */

export const DEFAULT_CONSUL_ADDR = '127.0.0.1:8500';
/** due heartbeatCheckInterval (10 s): the TTL; refreshed every half of it. */
export const DEFAULT_HEARTBEAT_CHECK_INTERVAL_MS = 10_000;
/** due deregisterCriticalServiceAfter (30 s). */
export const DEFAULT_DEREGISTER_CRITICAL_SERVICE_AFTER_MS = 30_000;
/** due's blocking query WaitTime (60 s). */
export const DEFAULT_WAIT_TIME_MS = 60_000;
/** due healthCheckInterval / healthCheckTimeout (10 s / 5 s). */
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 10_000;
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 5_000;
/** Non-blocking calls (register, TTL refresh, deregister); due uses 3 s for remote calls. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 3_000;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

export interface ConsulRegistryOptions {
  /** host:port of the Consul agent. Default 127.0.0.1:8500. */
  addr?: string;
  scheme?: 'http' | 'https';
  /** ACL token, sent as X-Consul-Token. */
  token?: string;
  /** HTTPS with these files (implies scheme https). */
  tls?: ConsulTlsFiles;
  /** TTL of the heartbeat check; refreshed every half of it. Default 10 s (due, in seconds there). */
  heartbeatCheckIntervalMs?: number;
  deregisterCriticalServiceAfterMs?: number;
  /** Blocking query wait. Default 60 s. */
  waitTimeMs?: number;
  requestTimeoutMs?: number;
  /**
   * due's TCP health check on the instance's drpc address. Off by default: duet instances talk over the bus and
   * have no listening drpc port, so a TCP check would mark every instance critical. Give the address of a port
   * the instance really listens on (e.g. a gate's WebSocket listener) to turn it on.
   */
  healthCheck?: { addr: string; intervalMs?: number; timeoutMs?: number };
  /** Where heartbeat and watch failures go (they happen in the background). Default: ignored. */
  onError?: ErrorReporter;
}

/** papi (the consul package's HTTP client) aborts a request when its ctx emits "cancel". */
type RequestCtx = EventEmitter & { includeResponse: boolean };
interface CallOptions {
  ctx: RequestCtx;
  timeout: number;
}
/** The part of the consul package used here; keys are the package's (it maps them to Consul's field names). */
interface ConsulClient {
  agent: {
    service: {
      register(o: CallOptions & ServiceBody): Promise<unknown>;
      deregister(o: CallOptions & { id: string }): Promise<unknown>;
    };
    check: { pass(o: CallOptions & { id: string; note: string }): Promise<unknown> };
  };
  health: {
    service(o: CallOptions & { service: string; passing: boolean; index?: string; wait?: string }): Promise<unknown>;
  };
  destroy(): void;
}
function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function statusOf(err: unknown): number | undefined {
  if (!isRecord(err) || !isRecord(err.response)) return undefined;
  const code = err.response.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Keeps one TTL check passing: at once and every ttl/2 (due registrar.heartbeat); never two calls at a time. */
class TtlHeartbeat {
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  readonly #everyMs: number;
  readonly #beat: () => Promise<void>;

  constructor(everyMs: number, beat: () => Promise<void>) {
    this.#everyMs = everyMs;
    this.#beat = beat;
  }

  /** Cancels first so a restart cannot leak a timer. */
  restart(): void {
    clearInterval(this.#timer);
    this.#fire();
    this.#timer = setInterval(() => this.#fire(), this.#everyMs);
    this.#timer.unref();
  }

  #fire(): void {
    if (this.#inFlight) return;
    this.#inFlight = this.#beat().finally(() => {
      this.#inFlight = undefined;
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }
}

export class ConsulRegistry implements Registry {
  readonly #client: ConsulClient;
  readonly #ttlMs: number;
  readonly #deregisterAfterMs: number;
  readonly #waitMs: number;
  readonly #requestTimeoutMs: number;
  readonly #healthCheck:
    | { addr: string; host: string; port: number; intervalMs: number; timeoutMs: number }
    | undefined;
  readonly #report: ErrorReporter;
  readonly #heartbeats = new Map<string, TtlHeartbeat>();
  /** The last registration of each service id, to register again if Consul loses it. */
  readonly #bodies = new Map<string, ServiceBody>();
  /** Aborted (with a ClosedError) by dispose: ends watches and in-flight calls. */
  readonly #closing = new AbortController();
  #closed = false;
  #disposing: Promise<void> | undefined;

  constructor(opts: ConsulRegistryOptions = {}) {
    const { host, port } = splitAddr('registry.consul.addr', opts.addr ?? DEFAULT_CONSUL_ADDR);
    if (opts.scheme !== undefined && opts.scheme !== 'http' && opts.scheme !== 'https') {
      throw new ConfigError('registry.consul.scheme', opts.scheme, `registry.consul.scheme must be http or https`);
    }
    const ms = (key: string, v: number | undefined, dflt: number) => positive(`registry.consul.${key}`, v, dflt);
    this.#ttlMs = ms('heartbeatCheckInterval', opts.heartbeatCheckIntervalMs, DEFAULT_HEARTBEAT_CHECK_INTERVAL_MS);
    this.#deregisterAfterMs = ms(
      'deregisterCriticalServiceAfter',
      opts.deregisterCriticalServiceAfterMs,
      DEFAULT_DEREGISTER_CRITICAL_SERVICE_AFTER_MS,
    );
    this.#waitMs = ms('waitTime', opts.waitTimeMs, DEFAULT_WAIT_TIME_MS);
    this.#requestTimeoutMs = ms('requestTimeout', opts.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
    if (opts.healthCheck) {
      const hc = opts.healthCheck;
      this.#healthCheck = {
        addr: hc.addr,
        ...splitAddr('registry.consul.healthCheck.addr', hc.addr),
        intervalMs: ms('healthCheckInterval', hc.intervalMs, DEFAULT_HEALTH_CHECK_INTERVAL_MS),
        timeoutMs: ms('healthCheckTimeout', hc.timeoutMs, DEFAULT_HEALTH_CHECK_TIMEOUT_MS),
      };
    }
    this.#report = opts.onError ?? (() => {});
    // The package's .d.ts omits the ctx/index/wait/timeout options its code reads (lib/utils.js options()), so the
    // client is seen through the narrower ConsulClient above.
    const agent = consulTlsAgent(opts.tls);
    this.#client = new Consul({
      host,
      port,
      secure: opts.scheme === 'https' || agent !== undefined,
      ...(agent ? { agent } : {}),
      ...(opts.token ? { defaults: { token: opts.token } } : {}),
    }) as unknown as ConsulClient;
  }

  /** Registers (or re-registers: a state change) and (re)starts the TTL heartbeat. Rejects with UnavailableError. */
  async register(instance: ServiceInstance, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new ClosedError('registry is closed');
    const id = serviceId(instance);
    const body = serviceRegistration(instance, {
      ttlMs: this.#ttlMs,
      deregisterAfterMs: this.#deregisterAfterMs,
      ...(this.#healthCheck ? { tcp: this.#healthCheck } : {}),
    });
    await this.#call('register', signal, (o) => this.#client.agent.service.register({ ...o, ...body }));
    if (this.#closed) return;
    this.#bodies.set(id, body);
    let hb = this.#heartbeats.get(id);
    if (!hb) {
      hb = new TtlHeartbeat(this.#ttlMs / 2, () => this.#refresh(id));
      this.#heartbeats.set(id, hb);
    }
    hb.restart();
  }

  /**
   * One TTL pass. A 404 means Consul no longer has the service (reaped after a long stall, or an agent that lost
   * its state): register it again rather than stay invisible while alive, which due does not do.
   */
  async #refresh(id: string): Promise<void> {
    const checkId = `service:${id}`;
    try {
      await this.#call('check pass', undefined, (o) =>
        this.#client.agent.check.pass({ ...o, id: checkId, note: 'passed' }),
      );
    } catch (err) {
      if (this.#closed) return;
      const body = this.#bodies.get(id);
      if (!(err instanceof UnavailableError && statusOf(err.cause) === 404 && body)) {
        this.#report(err, `consul ttl refresh ${checkId}`);
        return;
      }
      await this.#call('register', undefined, (o) => this.#client.agent.service.register({ ...o, ...body })).catch(
        (e: unknown) => this.#report(e, `consul re-register ${id} after its check was lost`),
      );
    }
  }

  /** Stops the heartbeat and removes the service; an id Consul no longer knows (reaped) counts as removed. */
  async deregister(instance: ServiceInstance, signal?: AbortSignal): Promise<void> {
    const id = serviceId(instance);
    const hb = this.#heartbeats.get(id);
    this.#heartbeats.delete(id);
    this.#bodies.delete(id);
    await hb?.stop();
    if (this.#closing.signal.aborted) return;
    await this.#deregisterId(id, signal);
  }

  async services(kind: ServiceKind, signal?: AbortSignal): Promise<ServiceInstance[]> {
    if (this.#closed) throw new ClosedError('registry is closed');
    return (await this.#health(kind, undefined, signal)).instances;
  }

  /**
   * The passing instances now, then again after every index change (blocking queries, due watcher.go). A failed
   * query is reported and retried with backoff; the stream ends when `signal` aborts or the registry is disposed.
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
    try {
      let index: bigint | undefined;
      let delayMs = RETRY_MIN_MS;
      while (!stop.signal.aborted) {
        let result: { instances: ServiceInstance[]; index: bigint };
        try {
          result = await this.#health(kind, index, stop.signal);
        } catch (err) {
          if (stop.signal.aborted) return;
          this.#report(err, `consul watch ${kind}`);
          try {
            await sleep(delayMs, undefined, { signal: stop.signal });
          } catch {
            return;
          }
          delayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
          continue;
        }
        delayMs = RETRY_MIN_MS;
        if (index !== undefined && result.index === index) continue;
        // Consul: an index that goes backwards means the state was reset; start again from 0 (non-blocking).
        index = index !== undefined && result.index < index ? 0n : result.index;
        yield result.instances;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onAbort);
    }
  }

  async #health(
    kind: ServiceKind,
    index: bigint | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ instances: ServiceInstance[]; index: bigint }> {
    const blocking = index !== undefined && index > 0n;
    const result = await this.#call(
      `health ${kind}`,
      signal,
      (o) =>
        this.#client.health.service({
          ...o,
          service: kind,
          passing: true,
          ...(blocking ? { index: String(index), wait: duration(this.#waitMs) } : {}),
        }),
      // Consul adds up to wait/16 of jitter; the request deadline leaves room for it plus a slow answer.
      blocking ? this.#waitMs + this.#waitMs / 16 + this.#requestTimeoutMs : undefined,
    );
    // includeResponse: the package resolves [response, body].
    if (!Array.isArray(result) || !isRecord(result[0]) || !isRecord(result[0].headers)) {
      throw new UnavailableError('consul health response has no headers');
    }
    const raw = result[0].headers['x-consul-index'];
    let next = 0n;
    try {
      next = typeof raw === 'string' ? BigInt(raw) : 0n;
    } catch {
      next = 0n;
    }
    const instances = decodeHealthEntries(result[1]);
    if (!instances) throw new UnavailableError('consul health response is not a list');
    return { instances, index: next > 0n ? next : 1n };
  }

  async #deregisterId(id: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#call('deregister', signal, (o) => this.#client.agent.service.deregister({ ...o, id }));
    } catch (err) {
      if (err instanceof UnavailableError && statusOf(err.cause) === 404) return;
      throw err;
    }
  }

  /**
   * One HTTP call through the consul package, abortable by `signal` and by dispose. Rejects with the abort reason
   * when aborted, otherwise with UnavailableError (cause = the package's error, whose response has statusCode).
   */
  async #call<T>(
    what: string,
    signal: AbortSignal | undefined,
    fn: (o: CallOptions) => Promise<T>,
    timeoutMs = this.#requestTimeoutMs,
  ): Promise<T> {
    const closing = this.#closing.signal;
    signal?.throwIfAborted();
    closing.throwIfAborted();
    const ctx: RequestCtx = Object.assign(new EventEmitter(), { includeResponse: true });
    const cancel = (): void => {
      ctx.emit('cancel');
    };
    signal?.addEventListener('abort', cancel, { once: true });
    closing.addEventListener('abort', cancel, { once: true });
    try {
      return await fn({ ctx, timeout: timeoutMs });
    } catch (err) {
      signal?.throwIfAborted();
      closing.throwIfAborted();
      throw new UnavailableError(`consul ${what} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      signal?.removeEventListener('abort', cancel);
      closing.removeEventListener('abort', cancel);
    }
  }

  /** Deregisters what this registry registered (3 s each at most), then ends watches and closes sockets. Safe twice. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    this.#closed = true;
    const ids = [...this.#heartbeats.keys()];
    const beats = [...this.#heartbeats.values()];
    this.#heartbeats.clear();
    this.#bodies.clear();
    await Promise.all(beats.map((hb) => hb.stop()));
    await Promise.all(
      ids.map((id) =>
        withDeadline(this.#deregisterId(id, undefined), this.#requestTimeoutMs, `consul deregister ${id}`).catch(
          (err: unknown) => this.#report(err, `consul deregister ${id} on dispose`),
        ),
      ),
    );
    this.#closing.abort(new ClosedError('registry is closed'));
    this.#client.destroy();
  }
}
