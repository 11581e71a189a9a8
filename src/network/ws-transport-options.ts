/** Checks a WsTransport's options once, at construction, and fills in the defaults (due's where due has the key). */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorReporter } from '../errors.js';
import { ConfigError } from '../errors.js';
import type { Log } from '../log/types.js';
import { type AdmissionPolicy, DEFAULT_MAX_CONN_NUM, DEFAULT_ORIGINS, DEFAULT_WS_PATH } from './admission.js';
import { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_WRITE_QUEUE, type WriteQueueBudget } from './connection.js';
import type { HandshakeLimits } from './handshake-guard.js';
import type { Refusal } from './transport.js';

export const OPTION_PREFIX = 'network.ws.server';
/** due's handshakeTimeout default. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_HANDSHAKE_NUM = 1000;
export const DEFAULT_MAX_HANDSHAKE_PER_IP = 100;

export interface WsTransportOptions {
  /** Interface to bind; default all interfaces (due's `:3553`). */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Default "/" = every path. */
  path?: string;
  /** Default ["*"]. */
  origins?: readonly string[];
  /** Default 5000; ≤ 0 means the default, as in due. */
  maxConnNum?: number;
  /** Live connections per remote IP; 0 (default) = no limit. Refused with 429. */
  maxConnPerIp?: number;
  /** Both set → https server (wss://). Exactly one set is a ConfigError. */
  tls?: { keyFile?: string; certFile?: string };
  /** Largest inbound frame in bytes (the gate passes codec.maxFrameBytes); larger frames close with 1009. */
  maxPayload: number;
  /** Outbound budget per connection; exceeding it closes with CloseCode.SLOW_CONSUMER. */
  writeQueue?: Partial<WriteQueueBudget>;
  /** Graceful close deadline (flush + close handshake), then the socket is destroyed. Default 3000. */
  closeTimeoutMs?: number;
  /** Plain HTTP requests (not upgrades). Return true when handled; otherwise the transport answers 426. */
  httpHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** due's OnUpgrade: runs after admission passed; a Refusal (usually 403) is answered instead of upgrading. */
  onUpgrade?: (req: IncomingMessage) => Refusal | undefined;
  /** Sink for exceptions thrown by the handler or hooks; default writes to stderr. */
  reportError?: ErrorReporter;
  /** A socket not upgraded by then is destroyed (due's handshakeTimeout). Default 10000. */
  handshakeTimeoutMs?: number;
  /** Most sockets not yet upgraded; more are refused at accept with 503. Default 1000. */
  maxHandshakeNum?: number;
  /** Most sockets not yet upgraded from one IP; more get 429; 0 = no limit. Default 100. */
  maxHandshakePerIp?: number;
  /** Refusals and reaped sockets, rate-limited (refusal-log.ts); default none. */
  log?: Log;
}

export interface CheckedOptions {
  policy: AdmissionPolicy;
  budget: WriteQueueBudget;
  closeTimeoutMs: number;
  handshake: HandshakeLimits;
}

function intAtLeast(key: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) {
    throw new ConfigError(`${OPTION_PREFIX}.${key}`, v, `${key} must be an integer >= ${min}, got ${v}`);
  }
  return v;
}

/** Throws ConfigError naming the option for any bad value. */
export function checkOptions(opts: WsTransportOptions): CheckedOptions {
  if (!Number.isInteger(opts.maxPayload) || opts.maxPayload <= 0) {
    throw new ConfigError(
      `${OPTION_PREFIX}.maxPayload`,
      opts.maxPayload,
      `maxPayload must be a positive integer, got ${opts.maxPayload}`,
    );
  }
  const maxConnNum = opts.maxConnNum ?? DEFAULT_MAX_CONN_NUM;
  const maxConnPerIp = intAtLeast('maxConnPerIp', opts.maxConnPerIp ?? 0, 0);
  const path = opts.path ?? DEFAULT_WS_PATH;
  if (!path.startsWith('/')) {
    throw new ConfigError(`${OPTION_PREFIX}.path`, path, `path must start with "/", got "${path}"`);
  }
  const policy: AdmissionPolicy = {
    path,
    origins: opts.origins ?? DEFAULT_ORIGINS,
    maxConnNum: maxConnNum > 0 ? maxConnNum : DEFAULT_MAX_CONN_NUM,
    maxConnPerIp,
  };
  const budget = { ...DEFAULT_WRITE_QUEUE, ...opts.writeQueue };
  for (const key of ['maxMessages', 'maxBytes'] as const) {
    const v = budget[key];
    if (!Number.isInteger(v) || v <= 0) {
      throw new ConfigError(`${OPTION_PREFIX}.writeQueue.${key}`, v, `writeQueue.${key} must be > 0, got ${v}`);
    }
  }
  const closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  if (!(closeTimeoutMs >= 0)) {
    throw new ConfigError(
      `${OPTION_PREFIX}.closeTimeoutMs`,
      opts.closeTimeoutMs,
      `closeTimeoutMs must be >= 0, got ${opts.closeTimeoutMs}`,
    );
  }
  const timeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new ConfigError(
      `${OPTION_PREFIX}.handshakeTimeout`,
      timeoutMs,
      `handshakeTimeout must be > 0 ms, got ${timeoutMs}`,
    );
  }
  const handshake: HandshakeLimits = {
    timeoutMs,
    maxNum: intAtLeast('maxHandshakeNum', opts.maxHandshakeNum ?? DEFAULT_MAX_HANDSHAKE_NUM, 1),
    maxPerIp: intAtLeast('maxHandshakePerIp', opts.maxHandshakePerIp ?? DEFAULT_MAX_HANDSHAKE_PER_IP, 0),
  };
  const { keyFile, certFile } = opts.tls ?? {};
  if (Boolean(keyFile) !== Boolean(certFile)) {
    throw new ConfigError(`${OPTION_PREFIX}.keyFile`, keyFile, 'keyFile and certFile must be set together');
  }
  return { policy, budget, closeTimeoutMs, handshake };
}
