import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ConfigError } from '../errors.js';
import { withDeadline } from '../lifecycle.js';

/**
 * Builds the ioredis clients for the locator from due's `locate.redis.*` keys: one address → a standalone client,
 * several → a Redis Cluster client (due uses go-redis UniversalClient the same way).
 */

export interface RedisConnectOptions {
  /** `host:port` list (due `addrs`, default `["127.0.0.1:6379"]`); more than one → Redis Cluster. */
  addrs?: readonly string[];
  /** Database index (standalone only; a cluster has only db 0). Default 0. */
  db?: number;
  username?: string;
  password?: string;
  /** TLS when any is set: caFile alone = server verified, no client certificate; certFile + keyFile = mutual TLS. */
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** due `maxRetries` (3): how many reconnect attempts a command already written may wait through. */
  maxRetries?: number;
  /** A command without a reply after this long fails (half-dead sockets do not hang callers). Default 3000. */
  commandTimeoutMs?: number;
  /** TCP connect timeout per attempt. Default 3000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff cap: 100 ms doubling up to this. Default 2000. */
  reconnectMaxDelayMs?: number;
}

export const DEFAULT_REDIS_ADDR = '127.0.0.1:6379';
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_COMMAND_TIMEOUT_MS = 3_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 2_000;

/** The slice of the ioredis API the locator uses, common to `Redis` and `Cluster`. */
export interface RedisClient {
  readonly status: string;
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`; the error names the key and the value. */
export function parseAddr(addr: string): HostPort {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m?.[1] || port < 1 || port > 65535) {
    throw new ConfigError('locate.redis.addrs', addr, `locate.redis.addrs entries must be host:port, got ${addr}`);
  }
  return { host: m[1], port };
}

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(key, path, `${key} could not be read: ${path}`, { cause: err });
  }
}

/**
 * TLS when any file is set: caFile alone verifies the server (managed Redis without client certificates);
 * certFile and keyFile, which go together, add a client certificate (mutual TLS).
 */
function tlsOptions(o: RedisConnectOptions): ConnectionOptions | undefined {
  const { certFile, keyFile, caFile } = o;
  if (!certFile && !keyFile && !caFile) return undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    const missing = certFile ? 'keyFile' : 'certFile';
    throw new ConfigError(
      `locate.redis.${missing}`,
      undefined,
      `locate.redis.certFile and locate.redis.keyFile go together, ${missing} is missing`,
    );
  }
  const client =
    certFile && keyFile
      ? { cert: readPem('locate.redis.certFile', certFile), key: readPem('locate.redis.keyFile', keyFile) }
      : {};
  return { ...client, ...(caFile ? { ca: readPem('locate.redis.caFile', caFile) } : {}) };
}

/**
 * A new client. `enableOfflineQueue: false` so a call made while disconnected fails at once instead of
 * queueing without bound; `autoResubscribe: false` because the locator re-subscribes itself and must know when
 * that is confirmed (cache resync). Connecting starts immediately.
 */
export function createRedisClient(
  o: RedisConnectOptions,
  connectionName: string,
  role: 'commands' | 'events' = 'commands',
): RedisClient {
  const addrs = (o.addrs && o.addrs.length > 0 ? o.addrs : [DEFAULT_REDIS_ADDR]).map(parseAddr);
  const maxDelay = o.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
  const retry = (times: number): number => Math.min(50 * 2 ** Math.min(times, 16), maxDelay);
  const common = {
    username: o.username,
    password: o.password,
    tls: tlsOptions(o),
    connectionName,
    commandTimeout: o.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: o.maxRetries ?? DEFAULT_MAX_RETRIES,
    autoResubscribe: false,
  } satisfies RedisOptions;
  // Events: always one standalone connection (a PUBLISH reaches every cluster member). The Cluster client would
  // move its subscriber to another member on failure and resubscribe silently, a gap in which events are lost
  // without the 'ready' the locator needs to resync its cache. If that member stays down, the locator stays
  // `degraded`: lookups read Redis instead of the cache, slower but never stale.
  if (addrs.length > 1 && role === 'commands') {
    return new Cluster(addrs, { enableOfflineQueue: false, clusterRetryStrategy: retry, redisOptions: common });
  }
  const [first] = addrs as [HostPort];
  return new Redis({
    ...common,
    host: first.host,
    port: first.port,
    db: o.db ?? 0,
    enableOfflineQueue: false,
    retryStrategy: retry,
  });
}

const QUIT_WAIT_MS = 1_000;

/** QUIT (at most 1 s, only when connected, so pending replies arrive), then disconnect (ends any reconnect timer). */
export async function quitThenDisconnect(c: RedisClient): Promise<void> {
  if (c.status === 'ready') {
    try {
      await withDeadline(c.quit(), QUIT_WAIT_MS, 'redis QUIT');
    } catch {
      // Closing anyway: disconnect() below ends the socket.
    }
  }
  c.disconnect();
}
