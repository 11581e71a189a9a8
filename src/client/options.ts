import { ConfigError } from '../errors.js';
import type { PacketOptions } from '../packet/options.js';
import { type ReconnectOptions, reconnectOptions } from './backoff.js';

/** The events the client reads; the browser WebSocket and `ws` both deliver these shapes through addEventListener. */
export interface SocketMessageEvent {
  readonly data: unknown;
}
export interface SocketCloseEvent {
  readonly code: number;
  readonly reason: string;
}
/** Browser error events carry nothing; `ws` adds `error` and `message`. */
export interface SocketErrorEvent {
  readonly error?: unknown;
  readonly message?: string;
}

/**
 * The subset of the WebSocket API shared by browsers and `ws` (no `on*` properties, no EventEmitter): the client
 * uses only this, so both plug in unchanged. `terminate` exists only in `ws`; the client uses it when present to
 * drop a dead socket without waiting for a closing handshake that will never come.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  /** ArrayBuffer-backed: the DOM's send() does not accept views of a SharedArrayBuffer. */
  send(data: Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: SocketMessageEvent) => void): void;
  addEventListener(type: 'close', listener: (event: SocketCloseEvent) => void): void;
  addEventListener(type: 'error', listener: (event: SocketErrorEvent) => void): void;
  removeEventListener(type: 'open', listener: () => void): void;
  removeEventListener(type: 'message', listener: (event: SocketMessageEvent) => void): void;
  removeEventListener(type: 'close', listener: (event: SocketCloseEvent) => void): void;
  removeEventListener(type: 'error', listener: (event: SocketErrorEvent) => void): void;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** readyState values (the same in browsers and `ws`). */
export const SOCKET_OPEN = 1;

export interface ClientOptions {
  /** ws:// or wss:// address of a due-compatible gate. */
  url: string;
  /** Must match the gate's `[packet]` section. Defaults: big, 2, 2, 5000 (docs/protocol.md). */
  packet?: Partial<Pick<PacketOptions, 'byteOrder' | 'routeBytes' | 'seqBytes' | 'bufferBytes'>>;
  /** `intervalMs`: heartbeat period, default 10 000; 0 turns heartbeats and the liveness check off. */
  heartbeat?: { intervalMs?: number };
  reconnect?: Partial<ReconnectOptions>;
  /** Default request timeout, default 10 000 ms; 0 = wait until a response or a disconnect. */
  requestTimeoutMs?: number;
  /** How long one connection attempt may take before it is dropped, default 10 000 ms; 0 = no limit. */
  connectTimeoutMs?: number;
  /** Defaults to globalThis.WebSocket (browsers, Node >= 22); in Node 20 pass the `ws` package's WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** WebSocket subprotocols, passed to the constructor as is. */
  protocols?: string | string[];
  /** Session resume (issue 11): on by default, used only when the gate offers tokens; `route` = the gate's reserved route. */
  resume?: { enabled?: boolean; route?: number };
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How long close() waits for the closing handshake before dropping the socket. */
export const CLOSE_DEADLINE_MS = 2_000;

export interface ResolvedClientOptions {
  url: string;
  packet: Partial<PacketOptions>;
  heartbeatIntervalMs: number;
  reconnect: ReconnectOptions;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  WebSocket: WebSocketConstructor;
  protocols: string | string[] | undefined;
}

/** Fills defaults and validates; throws ConfigError naming the field (packet fields are checked by PacketCodec). */
export function resolveClientOptions(o: ClientOptions): ResolvedClientOptions {
  if (typeof o?.url !== 'string' || o.url === '') {
    throw new ConfigError('url', o?.url, `url must be a ws:// or wss:// address, got ${String(o?.url)}`);
  }
  const heartbeatIntervalMs = duration('heartbeat.intervalMs', o.heartbeat?.intervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS);
  const requestTimeoutMs = duration('requestTimeoutMs', o.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
  const connectTimeoutMs = duration('connectTimeoutMs', o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS);
  const WebSocket = o.WebSocket ?? globalWebSocket();
  if (typeof WebSocket !== 'function') {
    throw new ConfigError(
      'WebSocket',
      WebSocket,
      'WebSocket must be a WebSocket constructor: this runtime has no global WebSocket, pass the `ws` package (Node < 22)',
    );
  }
  const { byteOrder, routeBytes, seqBytes, bufferBytes } = o.packet ?? {};
  const packet: Partial<PacketOptions> = {};
  if (byteOrder !== undefined) packet.byteOrder = byteOrder;
  if (routeBytes !== undefined) packet.routeBytes = routeBytes;
  if (seqBytes !== undefined) packet.seqBytes = seqBytes;
  if (bufferBytes !== undefined) packet.bufferBytes = bufferBytes;
  return {
    url: o.url,
    packet,
    heartbeatIntervalMs,
    reconnect: reconnectOptions(o.reconnect),
    requestTimeoutMs,
    connectTimeoutMs,
    WebSocket,
    protocols: o.protocols,
  };
}

/** A timeout: finite, >= 0, and within setTimeout's 32-bit range (larger values fire at once in browsers and Node). */
export function duration(path: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v >= 0 && v <= 2_147_483_647)) {
    throw new ConfigError(path, v, `${path} must be a number of ms in [0, 2147483647], got ${String(v)}`);
  }
  return v;
}

function globalWebSocket(): WebSocketConstructor | undefined {
  const g: { WebSocket?: WebSocketConstructor } = globalThis;
  return g.WebSocket;
}
