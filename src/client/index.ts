/**
 * duet's client SDK (`duet/client`): browser and Node, no Node-only imports (bundled by scripts/build-client.mjs).
 */

export {
  ClosedError,
  ConfigError,
  DuetError,
  ErrorCode,
  ProtocolError,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
export type { ByteOrder, PacketOptions, RouteBytes, SeqBytes } from '../packet/options.js';
export { backoffDelayMs, DEFAULT_RECONNECT_OPTIONS, type ReconnectOptions } from './backoff.js';
export { Client, type ClientState, type RequestOptions } from './client.js';
export type { ClientEventName, ClientEvents, CloseInfo, HeartbeatInfo, Listener, Push } from './emitter.js';
export {
  ClientUsageError,
  ConnectError,
  ConnectionClosedError,
  ListenerError,
  NotOpenError,
  RequestTimeoutError,
} from './errors.js';
export {
  type ClientOptions,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type WebSocketConstructor,
  type WebSocketLike,
} from './options.js';
export type { Reply } from './pending.js';
