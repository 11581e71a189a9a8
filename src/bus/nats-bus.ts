import {
  type Authenticator,
  connect,
  createInbox,
  InvalidArgumentError,
  type Msg,
  type NatsConnection,
  type TlsOptions,
} from '@nats-io/transport-node';
import {
  ClosedError,
  ConfigError,
  DuetError,
  ErrorCode,
  type ErrorReporter,
  errorMessage,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
import type { Bus, BusStatus, RequestOptions, SubscribeOptions, Subscription, ValueCodec } from './bus.js';
import { HeldPublishes } from './held-publishes.js';
import { isClosedCause, requestError } from './nats-errors.js';
import { NatsBusSubscription } from './nats-subscription.js';
import { DEFAULT_MAX_PAYLOAD, payloadTooLarge } from './payload-limit.js';

export const DEFAULT_RECONNECT_TIME_WAIT_MS = 250;
export const DEFAULT_RECONNECT_JITTER_MS = 100;
/** Client pings; with maxPingOut 3 a silently dead server is noticed within ~30 s instead of nats.js's 6 min. */
export const DEFAULT_PING_INTERVAL_MS = 10_000;
export const DEFAULT_MAX_PING_OUT = 3;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** drain() waits this long for subscriptions and publishes to flush before closing hard (the server may be down). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
/** Publishes kept while reconnecting (Go client's ReconnectBufSize); beyond it they are dropped and counted. */
export const DEFAULT_RECONNECT_BUFFER_BYTES = 8 * 1024 * 1024;

export interface NatsBusOptions {
  /** `nats://host:port` URLs; the client fails over between them and learns the rest of the cluster from the server. */
  servers: string[];
  /** Client name shown in the server's /connz. */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** nkey or creds sign-in (see nats-security.ts); used besides user/pass/token when those are set too. */
  authenticator?: Authenticator;
  /** Passed to nats.js as is; `{}` requires TLS, null refuses it. */
  tls?: TlsOptions | null;
  /** Per server; -1 (default) reconnects forever. */
  maxReconnectAttempts?: number;
  reconnectTimeWaitMs?: number;
  reconnectJitterMs?: number;
  pingIntervalMs?: number;
  maxPingOut?: number;
  /** Deadline of one connect handshake. */
  connectTimeoutMs?: number;
  /** Keep retrying the first connect instead of failing (connectNatsBus() then resolves only once connected). */
  waitOnFirstConnect?: boolean;
  /** Dial the servers in the order given (tests pick the first server). */
  noRandomize?: boolean;
  /** Subject prefix of createInbox() and request replies, for accounts with restricted subjects. */
  inboxPrefix?: string;
  drainTimeoutMs?: number;
  /**
   * Bytes of publishes (payload + subject) held while reconnecting and sent, in order, once reconnected; 0 drops
   * them. nats.js v3 itself discards what was written during an outage (resetOutbound() on every dial).
   */
  reconnectBufferBytes?: number;
  /** Where dropped publishes with an unexpected cause, server errors and drain failures go. Default: counted only. */
  onError?: ErrorReporter;
}

/**
 * Bus over one NATS connection (nats.js v3). Order per subject holds for one publisher because one connection
 * writes in order. While reconnecting, publishes wait in a bounded buffer and go out in order after the
 * reconnect (after nats.js has re-sent the subscriptions); overflow, draining and closed publishes are dropped
 * and counted in `dropped`. Buffered data is held by reference: a publisher must not mutate it after publish().
 */
export class NatsBus implements Bus {
  readonly #nc: NatsConnection;
  readonly #opts: NatsBusOptions;
  readonly #listeners = new Set<(s: BusStatus) => void>();
  #status: BusStatus = 'connected';
  #isDraining = false;
  #drained: Promise<void> | undefined;
  /** Bumped on every disconnect, so a request can tell that the connection dropped while it waited. */
  #disconnects = 0;
  readonly #held: HeldPublishes;
  readonly closed: Promise<Error | undefined>;
  /** Publishes lost: draining or closed bus, reconnect buffer full or discarded on close, refused by nats.js. */
  dropped = 0;
  /** Reconnects completed since connect. */
  reconnects = 0;
  /** Errors passed to onError (or only counted when there is none). */
  errors = 0;

  constructor(nc: NatsConnection, opts: NatsBusOptions) {
    this.#nc = nc;
    this.#opts = opts;
    this.#held = new HeldPublishes(opts.reconnectBufferBytes ?? DEFAULT_RECONNECT_BUFFER_BYTES);
    this.closed = nc.closed().then(
      (e) => this.#onClosed(e instanceof Error ? e : undefined),
      (e: unknown) => this.#onClosed(e instanceof Error ? e : new Error(String(e))),
    );
    this.#watchStatus().catch((err: unknown) => this.#report(err, 'nats status stream'));
  }

  #onClosed(err: Error | undefined): Error | undefined {
    this.#setStatus('closed');
    this.dropped += this.#held.take().length;
    return err;
  }

  #report(err: unknown, context: string): void {
    this.errors++;
    const onError = this.#opts.onError;
    if (!onError) return;
    try {
      onError(err, context);
    } catch {
      // a reporter that throws must not take the bus down
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.#disconnects++;
          this.#setStatus('reconnecting');
          break;
        case 'reconnecting':
        case 'staleConnection':
          this.#setStatus('reconnecting');
          break;
        case 'reconnect':
          this.reconnects++;
          this.#replayHeld();
          this.#setStatus('connected');
          break;
        case 'error':
          this.#report(s.error, 'nats server error');
          break;
        case 'close':
          this.#setStatus('closed');
          break;
        default:
          break;
      }
    }
  }

  #setStatus(next: BusStatus): void {
    // 'closed' is final: a late status event from nats.js must not revive it.
    if (this.#status === next || this.#status === 'closed') return;
    this.#status = next;
    for (const l of this.#listeners) {
      try {
        l(next);
      } catch (err) {
        this.#report(err, 'bus status listener');
      }
    }
  }

  get status(): BusStatus {
    return this.#status;
  }

  /** The server this connection is on now (`host:port`), empty while disconnected. */
  get server(): string {
    return this.#nc.getServer();
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  createInbox(): string {
    return createInbox(this.#opts.inboxPrefix);
  }

  /** The connected server's max_payload (nats-server default 1 MiB until the first INFO says otherwise). */
  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  publish(subject: string, data: Uint8Array): DuetError | undefined {
    return this.#publish(subject, data);
  }

  publishValue<T>(subject: string, value: T, codec: ValueCodec<T>): DuetError | undefined {
    return this.#publish(subject, codec.encode(value));
  }

  /** undefined when accepted; else the drop's reason (counted). Also the path of BusMessage.respond(). */
  #publish(subject: string, data: Uint8Array): DuetError | undefined {
    if (this.#isDraining || this.#status === 'closed') {
      this.dropped++;
      return new ClosedError(`bus is closed, publish on ${subject} dropped`);
    }
    if (data.byteLength > this.maxPayload) {
      this.dropped++;
      return payloadTooLarge(subject, data.byteLength, this.maxPayload);
    }
    if (this.#status === 'reconnecting') return this.#hold(subject, data);
    return this.#send(subject, data);
  }

  #hold(subject: string, data: Uint8Array): DuetError | undefined {
    const refused = this.#held.hold(subject, data);
    if (!refused) return undefined;
    this.dropped++;
    // Once per outage (many publishers ignore the returned error, and every later one would repeat it).
    if (this.#held.firstRefusal()) this.#report(refused, 'nats reconnect buffer full');
    return refused;
  }

  /** Runs on the 'reconnect' status, before listeners hear 'connected', so held messages go out first. */
  #replayHeld(): void {
    for (const m of this.#held.take()) this.#send(m.subject, m.data);
  }

  #send(subject: string, data: Uint8Array): DuetError | undefined {
    try {
      this.#nc.publish(subject, data);
      return undefined;
    } catch (err) {
      this.dropped++;
      // Closed/draining races are expected and only counted; a bad subject or an oversized payload is a bug to see.
      if (isClosedCause(err)) return new ClosedError(`bus is closed, publish on ${subject} dropped`, { cause: err });
      const refused = new UnavailableError(`nats refused a publish on ${subject}: ${errorMessage(err)}`, {
        cause: err,
      });
      this.#report(refused, 'nats publish');
      return refused;
    }
  }

  /** Throws ClosedError after drain() or close, DuetError ILLEGAL_OPERATION for an invalid subject. */
  subscribe(subject: string, opts: SubscribeOptions = {}): Subscription {
    if (this.#isDraining || this.#status === 'closed') throw new ClosedError('bus is closed');
    try {
      return new NatsBusSubscription(
        this.#nc,
        subject,
        opts.queue,
        (err, ctx) => this.#report(err, ctx),
        (reply, data) => this.#publish(reply, data) === undefined,
      );
    } catch (err) {
      if (isClosedCause(err)) throw new ClosedError('bus is closed', { cause: err });
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `cannot subscribe to ${subject}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Rejects with TimeoutError when no reply came in time; UnavailableError (cause: the timeout) instead when the
   * connection dropped during the wait or is still down; DuetError NO_RESPONDERS; ClosedError; the signal's reason.
   */
  async request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
    // Created before the wait so its stack shows the caller.
    const timeoutErr = new TimeoutError(`request on ${subject} timed out after ${opts.timeoutMs} ms`);
    if (this.#isDraining || this.#status === 'closed') throw new ClosedError('bus is closed');
    // nats.js would discard the request with the outbound buffer on the next dial: say so now instead of timing out.
    if (this.#status === 'reconnecting')
      throw new UnavailableError(`nats is reconnecting, request on ${subject} not sent`);
    const signal = opts.signal;
    signal?.throwIfAborted();
    const disconnectsBefore = this.#disconnects;
    let reply: Promise<Msg>;
    try {
      reply = this.#nc.request(subject, data, { timeout: opts.timeoutMs });
    } catch (err) {
      throw requestError(err, subject, timeoutErr, {
        isClosed: this.#nc.isClosed(),
        wasDisconnected: this.#status !== 'connected' || this.#disconnects !== disconnectsBefore,
      });
    }
    let onAbort: (() => void) | undefined;
    try {
      if (signal) {
        // The nats request cannot be cancelled; it ends at its own timeout, so its late rejection is swallowed.
        reply.catch(() => {});
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason);
          signal.addEventListener('abort', onAbort, { once: true });
        });
        return (await Promise.race([reply, aborted])).data;
      }
      return (await reply).data;
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      throw requestError(err, subject, timeoutErr, {
        isClosed: this.#nc.isClosed(),
        wasDisconnected: this.#status !== 'connected' || this.#disconnects !== disconnectsBefore,
      });
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Resolves once the server has seen every publish so far; rejects with ClosedError after close and
   * UnavailableError while reconnecting (held publishes have not reached any server).
   */
  async flush(): Promise<void> {
    if (this.#status === 'closed') throw new ClosedError('bus is closed');
    if (this.#status === 'reconnecting') throw new UnavailableError('nats is reconnecting, cannot flush');
    try {
      await this.#nc.flush();
    } catch (err) {
      if (isClosedCause(err) || this.#nc.isClosed()) throw new ClosedError('bus is closed', { cause: err });
      throw new UnavailableError(`nats flush failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Drains every subscription, flushes publishes and closes; after drainTimeoutMs (the server may be down) it
   * closes without waiting. Never rejects; safe to call twice (later callers share the first drain).
   */
  drain(): Promise<void> {
    this.#drained ??= this.#drain();
    return this.#drained;
  }

  async #drain(): Promise<void> {
    this.#isDraining = true;
    if (!this.#nc.isClosed()) {
      const limitMs = this.#opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        this.#nc.drain().then(
          () => 'drained' as const,
          (err: unknown) => err,
        ),
        new Promise<'late'>((r) => {
          timer = setTimeout(() => r('late'), limitMs);
        }),
      ]);
      clearTimeout(timer);
      if (outcome !== 'drained') {
        if (outcome !== 'late' && !isClosedCause(outcome)) this.#report(outcome, 'nats drain');
        if (outcome === 'late') this.#report(new TimeoutError(`nats drain took over ${limitMs} ms`), 'nats drain');
        await this.#nc.close().catch((err: unknown) => this.#report(err, 'nats close'));
      }
    }
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.drain();
  }
}

/** `nats://user:pass@host` → `nats://host`: server URLs may carry credentials, and messages end up in logs. */
function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1');
}

/**
 * Connects and resolves with a bus in status 'connected'. Rejects with UnavailableError (cause: the nats error)
 * when no server accepts the first connection, ConfigError for options nats.js refuses.
 */
export async function connectNatsBus(opts: NatsBusOptions): Promise<NatsBus> {
  if (opts.servers.length === 0) throw new ConfigError('bus.nats.servers', opts.servers, 'bus.nats.servers is empty');
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.name,
      user: opts.user,
      pass: opts.pass,
      token: opts.token,
      authenticator: opts.authenticator,
      tls: opts.tls,
      maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
      reconnectTimeWait: opts.reconnectTimeWaitMs ?? DEFAULT_RECONNECT_TIME_WAIT_MS,
      reconnectJitter: opts.reconnectJitterMs ?? DEFAULT_RECONNECT_JITTER_MS,
      pingInterval: opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
      maxPingOut: opts.maxPingOut ?? DEFAULT_MAX_PING_OUT,
      timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
      noRandomize: opts.noRandomize,
      inboxPrefix: opts.inboxPrefix,
    });
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new ConfigError('bus.nats', undefined, `bus.nats options refused: ${err.message}`, { cause: err });
    }
    const where = opts.servers.map(redactUrl).join(', ');
    throw new UnavailableError(`cannot connect to nats at ${where}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return new NatsBus(nc, opts);
}
