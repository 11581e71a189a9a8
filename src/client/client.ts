import { CloseCode, ClosedError, errorMessage } from '../errors.js';
import { PacketCodec } from '../packet/codec.js';
import { backoffDelayMs } from './backoff.js';
import { ClientEmitter, type ClientEventName, type Listener } from './emitter.js';
import { ClientUsageError, ConnectError, ConnectionClosedError, NotOpenError } from './errors.js';
import { Heartbeat, nsToMs } from './heartbeat.js';
import {
  CLOSE_DEADLINE_MS,
  type ClientOptions,
  duration,
  type ResolvedClientOptions,
  resolveClientOptions,
  SOCKET_OPEN,
  type WebSocketLike,
} from './options.js';
import { PendingTable, type Reply } from './pending.js';
import { ResumeState } from './resume.js';
import { attachSocket, closeArgsError, dropSocket, frameBytes, sendable } from './socket.js';

/**
 * idle → connecting → open → (lost) reconnecting → connecting → open …; close() → closing → closed.
 * connect() from idle or closed starts over.
 */
export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed';

export interface RequestOptions {
  /** Overrides `requestTimeoutMs` for this call; 0 = no timeout. */
  timeoutMs?: number;
  /** Aborting removes the request at once and rejects with `signal.reason` (the fetch() convention). */
  signal?: AbortSignal;
}

type Timer = ReturnType<typeof setTimeout>;
interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

const ABNORMAL_CLOSURE = 1006; // RFC 6455: the socket closed without a close frame

/**
 * A due-protocol client for browsers and Node (docs/protocol.md), fixing due-client-ts: heartbeats
 * in the configured byte order, seqs that wrap, timed-out requests removed, a silent server dropped, jittered
 * reconnects, exact server time, typed errors; session resume (issue 11). close() releases every timer and listener.
 */
export class Client {
  readonly #o: ResolvedClientOptions;
  readonly #codec: PacketCodec;
  /** undefined when packet.seqBytes is 0: responses then carry no seq and request() is refused. */
  readonly #pending: PendingTable | undefined;
  readonly #events = new ClientEmitter();
  #state: ClientState = 'idle';
  #socket: WebSocketLike | undefined;
  #detach: (() => void) | undefined;
  /** Reconnect attempt of the current outage, from 1; 0 while connected or on the first connect(). */
  #attempt = 0;
  #waiters: Waiter[] = [];
  #closing: Promise<void> | undefined;
  #closed: (() => void) | undefined;
  readonly #heartbeat: Heartbeat;
  #reconnectTimer: Timer | undefined;
  #connectTimer: Timer | undefined;
  #closeTimer: Timer | undefined;
  #lastPushCount = 0;
  #lateReplyCount = 0;
  #malformedCount = 0;
  readonly #resume: ResumeState;

  /** Throws ConfigError / ProtocolError (packet fields) on bad options; opens nothing until connect(). */
  constructor(options: ClientOptions) {
    this.#o = resolveClientOptions(options);
    this.#codec = new PacketCodec(this.#o.packet);
    const { seqBytes } = this.#codec.options;
    this.#pending = seqBytes === 0 ? undefined : new PendingTable(seqBytes);
    this.#resume = new ResumeState(options.resume?.route, options.resume?.enabled ?? true);
    // Configured byte order: due-client-ts always wrote 00 00 00 01 80, which a little-endian gate rejects.
    const beat = sendable(this.#codec.encodeHeartbeat());
    this.#heartbeat = new Heartbeat(
      this.#o.heartbeatIntervalMs,
      () => this.#sendHeartbeat(beat),
      (silentMs) => this.#onSilent(silentMs),
    );
  }

  get state(): ClientState {
    return this.#state;
  }
  /** Requests waiting for a response. */
  get pendingCount(): number {
    return this.#pending?.size ?? 0;
  }
  /** Pushes (seq 0 data packets) received over the client's life, across reconnects (kept for session resume). */
  get lastPushCount(): number {
    return this.#lastPushCount;
  }
  /** Responses that matched no pending request (it timed out, was aborted or failed) and were dropped. */
  get lateReplyCount(): number {
    return this.#lateReplyCount;
  }
  /** Server frames that failed to decode (each also emitted as 'error'). */
  get malformedCount(): number {
    return this.#malformedCount;
  }

  /** Adds a typed listener; returns its unsubscribe function. Throws ClientUsageError for an unknown event. */
  on<K extends ClientEventName>(event: K, listener: Listener<K>): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Resolves when the socket is open. The first connect() does not retry: it rejects with ConnectError (cause: the
   * socket's error) so a wrong url fails fast. While reconnecting it joins the attempts under way and rejects when
   * they give up or close() is called. Safe to call repeatedly; resolves at once when already open.
   */
  connect(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    if (this.#state === 'closing') {
      return Promise.reject(new ClosedError('connect() called while close() is in progress; await close() first'));
    }
    const opened = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#state === 'idle' || this.#state === 'closed') {
      this.#attempt = 0;
      this.#openSocket();
    }
    return opened;
  }

  /**
   * Closes for good (no reconnect): clears every timer, fails pending requests with ConnectionClosedError, sends a
   * close frame and resolves when the socket has closed (after CLOSE_DEADLINE_MS it drops the socket instead).
   * `code` must be 1000 or 3000-4999 (what browsers allow). Safe to call twice; concurrent calls share one promise.
   * connect() may be called again afterwards.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): Promise<void> {
    const invalid = closeArgsError(code, reason);
    if (invalid !== undefined) return Promise.reject(invalid);
    if (this.#closing !== undefined) return this.#closing;
    if (this.#state === 'idle' || this.#state === 'closed') return Promise.resolve();
    const closing = new Promise<void>((resolve) => {
      this.#closed = resolve;
    });
    this.#closing = closing;
    this.#resume.forget();
    this.#clearTimers();
    const err = new ConnectionClosedError(code, reason === '' ? 'closed by the client' : reason);
    this.#failPending(err);
    this.#rejectWaiters(err);
    const ws = this.#socket;
    this.#state = 'closing';
    if (ws === undefined) {
      this.#finishClose(code, reason);
      return closing;
    }
    try {
      ws.close(code, reason);
      this.#closeTimer = setTimeout(() => this.#finishClose(code, reason), CLOSE_DEADLINE_MS);
    } catch {
      // The socket refused to close (already closing on its side): stop waiting for it.
      this.#finishClose(code, reason);
    }
    return closing;
  }

  /**
   * Sends a data packet with seq 0 (due's fire-and-forget message). Throws NotOpenError when the connection is not
   * open (nothing is queued: during a reconnect the caller decides what to drop), and ProtocolError for a route out
   * of range or a body over packet.bufferBytes. The body is copied into the frame; the caller keeps its buffer.
   */
  send(route: number, body?: Uint8Array): void {
    const ws = this.#openSocketOrThrow('send');
    ws.send(sendable(this.#codec.encode({ route, seq: 0, body })));
  }

  /**
   * Sends a request and resolves with its response {route, seq, body} (body: the client's own copy).
   * Rejects with: ClientUsageError (packet.seqBytes 0, or every seq of the route pending), NotOpenError,
   * ProtocolError (route/body), RequestTimeoutError, `signal.reason` on abort, ConnectionClosedError on disconnect.
   * A rejected request is out of the pending table at once; its late response is dropped and counted.
   */
  request(route: number, body?: Uint8Array, options: RequestOptions = {}): Promise<Reply> {
    try {
      const pending = this.#pending;
      if (pending === undefined) {
        throw new ClientUsageError(
          'request() needs packet.seqBytes 1, 2 or 4: with 0 a response carries no seq and cannot be matched; use send()',
        );
      }
      const { signal } = options;
      if (signal?.aborted) return Promise.reject(signal.reason);
      const ws = this.#openSocketOrThrow('request');
      const timeoutMs = duration('timeoutMs', options.timeoutMs, this.#o.requestTimeoutMs);
      const seq = pending.allocate(route);
      const frame = sendable(this.#codec.encode({ route, seq, body }));
      return pending.track(route, seq, timeoutMs, signal, () => {
        try {
          ws.send(frame);
        } catch (err) {
          throw new ConnectionClosedError(ABNORMAL_CLOSURE, 'the socket refused the frame', { cause: err });
        }
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #openSocketOrThrow(operation: string): WebSocketLike {
    const ws = this.#socket;
    if (this.#state !== 'open' || ws === undefined || ws.readyState !== SOCKET_OPEN) {
      throw new NotOpenError(operation, this.#state);
    }
    return ws;
  }

  #openSocket(): void {
    this.#state = 'connecting';
    try {
      const { ws, detach } = attachSocket(this.#o.WebSocket, this.#o.url, this.#o.protocols, {
        open: () => this.#onOpen(),
        data: (data) => this.#onData(data),
        closed: (code, reason, cause) => this.#onSocketClosed(code, reason, cause),
        fault: (err) => this.#events.emit('error', err),
      });
      this.#socket = ws;
      this.#detach = detach;
    } catch (err) {
      this.#attemptFailed(ABNORMAL_CLOSURE, errorMessage(err), err);
      return;
    }
    if (this.#o.connectTimeoutMs > 0) {
      this.#connectTimer = setTimeout(() => {
        this.#connectTimer = undefined;
        this.#attemptFailed(ABNORMAL_CLOSURE, `not open after ${this.#o.connectTimeoutMs} ms`, undefined);
      }, this.#o.connectTimeoutMs);
    }
  }

  #onOpen(): void {
    this.#clearConnectTimer();
    this.#state = 'open';
    const isReconnect = this.#attempt > 0;
    this.#attempt = 0;
    this.#heartbeat.start();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve();
    // First frame after a reconnect: the gate decides between resuming the session and a new one on it.
    const resume = isReconnect ? this.#resume.request(this.#codec) : undefined;
    if (resume) this.#socket?.send(sendable(resume));
    this.#events.emit('open', { isReconnect });
  }

  #onData(data: unknown): void {
    const frame = frameBytes(data);
    if (frame === undefined) return;
    this.#heartbeat.frameReceived();
    if (frame.length === 0 || this.#state !== 'open') return;
    const result = this.#codec.decode(frame);
    if (!result.ok) {
      this.#malformedCount++;
      this.#events.emit('error', result.error);
      return;
    }
    const p = result.packet;
    if (p.kind === 'heartbeat') {
      this.#events.emit('heartbeat', { timeMs: nsToMs(p.timeNs), timeNs: p.timeNs });
      return;
    }
    // Copied: a view would pin the whole frame and expose its header through body.buffer (due-client-ts fault 5).
    const reply: Reply = { route: p.route, seq: p.seq, body: p.body.slice() };
    if (p.seq !== 0) {
      const req = this.#pending?.take(p.route, p.seq);
      if (req === undefined) this.#lateReplyCount++;
      else req.resolve(reply);
      return;
    }
    if (this.#resume.handle(p.route, reply.body, this.#events)) return;
    this.#lastPushCount++;
    this.#resume.pushSeen();
    this.#events.emit('push', reply);
  }

  #onSocketClosed(code: number, reason: string, cause: unknown): void {
    if (this.#state === 'closing') this.#finishClose(code, reason);
    else if (this.#state === 'connecting') this.#attemptFailed(code, reason, cause);
    else if (this.#state === 'open') this.#lost(code, reason, cause);
  }

  #sendHeartbeat(beat: Uint8Array<ArrayBuffer>): void {
    try {
      this.#socket?.send(beat);
    } catch {
      // The socket is closing; its close event takes it from here.
    }
  }

  /** No frame for 2 heartbeat intervals: a dead peer never answers a closing handshake, so drop it and reconnect. */
  #onSilent(silentMs: number): void {
    const reason = `no frame from the server for ${Math.round(silentMs)} ms (2 heartbeat intervals)`;
    this.#dropSocket(CloseCode.HEARTBEAT_TIMEOUT, 'server silent');
    this.#lost(CloseCode.HEARTBEAT_TIMEOUT, reason, undefined);
  }

  /** An open connection ended without close(): fail pending requests, report, reconnect if enabled. */
  #lost(code: number, reason: string, cause: unknown): void {
    this.#dropSocket(CloseCode.NORMAL, '');
    this.#clearTimers();
    this.#failPending(new ConnectionClosedError(code, reason, { cause }));
    const willReconnect = this.#o.reconnect.enabled;
    this.#state = willReconnect ? 'reconnecting' : 'closed';
    this.#events.emit('close', { code, reason, willReconnect });
    // A 'close' listener may have called close() or connect(): only schedule if still waiting to reconnect.
    if (this.#stateIs('reconnecting') && this.#reconnectTimer === undefined) this.#scheduleReconnect();
  }

  #attemptFailed(code: number, reason: string, cause: unknown): void {
    this.#dropSocket(CloseCode.NORMAL, '');
    this.#clearConnectTimer();
    const attempts = Math.max(1, this.#attempt);
    const detail = `${reason === '' ? 'socket closed' : reason} (code ${code})`;
    if (this.#attempt === 0 || attempts >= this.#o.reconnect.maxAttempts) {
      const isGivingUp = this.#attempt > 0;
      this.#state = 'closed';
      this.#attempt = 0;
      const err = new ConnectError(
        this.#o.url,
        attempts,
        isGivingUp ? `gave up after ${attempts} reconnect attempts, last: ${detail}` : detail,
        { cause },
      );
      this.#rejectWaiters(err);
      if (isGivingUp) {
        this.#events.emit('error', err);
        this.#events.emit('close', { code, reason, willReconnect: false });
      }
      return;
    }
    this.#state = 'reconnecting';
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const attempt = ++this.#attempt;
    const delayMs = backoffDelayMs(attempt, this.#o.reconnect);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#openSocket();
    }, delayMs);
    this.#events.emit('reconnecting', { attempt, delayMs });
  }

  #finishClose(code: number, reason: string): void {
    this.#clearTimers();
    this.#dropSocket(code, reason);
    this.#state = 'closed';
    this.#attempt = 0;
    const closed = this.#closed;
    this.#closing = undefined;
    this.#closed = undefined;
    this.#events.emit('close', { code, reason, willReconnect: false });
    closed?.();
  }

  /** Detaches our listeners and ends the socket without waiting. */
  #dropSocket(code: number, reason: string): void {
    const ws = this.#socket;
    this.#detach?.();
    this.#socket = undefined;
    this.#detach = undefined;
    if (ws !== undefined) dropSocket(ws, code, reason);
  }

  #failPending(err: Error): void {
    for (const req of this.#pending?.takeAll() ?? []) req.reject(err);
  }

  #rejectWaiters(err: Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }

  #clearConnectTimer(): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  #clearTimers(): void {
    this.#heartbeat.stop();
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#closeTimer);
    this.#clearConnectTimer();
    this.#reconnectTimer = undefined;
    this.#closeTimer = undefined;
  }

  /** Reads the state through a call so TypeScript does not narrow it across listener callbacks that may change it. */
  #stateIs(state: ClientState): boolean {
    return this.#state === state;
  }
}
