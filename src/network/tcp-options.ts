import { parseListenAddr } from '../config/addr.js';
import {
  DEFAULT_AUTHORIZE_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_MECHANISM,
  type DuetConfig,
} from '../config/schema.js';
import { ConfigError } from '../errors.js';

/** What tcp-transport.ts takes, spelled out here so config code does not import the adapter. */
export interface TcpListenOptions {
  host: string | undefined;
  port: number;
  maxConnNum: number;
  tls: { keyFile: string; certFile: string } | undefined;
  maxFrameBytes: number;
  byteOrder: 'big' | 'little';
  writeQueue: { maxMessages: number; maxBytes: number };
  firstCid: number;
}

/** TCP connection ids start here, a range the WebSocket counter (from 1) never reaches. */
export const TCP_FIRST_CID = 2 ** 32 + 1;

/**
 * The TCP listener's options from `[network.tcp.server]`, or undefined when `addr` is empty (no TCP listener).
 * Heartbeat and authorize settings are the gate's, shared by every connection whatever its transport: a TCP key at
 * due's default follows the WebSocket one, any other value must agree with it (it would otherwise be ignored).
 */
export function tcpTransportOptions(config: DuetConfig, maxFrameBytes: number): TcpListenOptions | undefined {
  const tcp = config.network.tcp.server;
  if (tcp.addr === '') return undefined;
  const addr = parseListenAddr(tcp.addr);
  if (!addr) {
    throw new ConfigError(
      'network.tcp.server.addr',
      tcp.addr,
      `network.tcp.server.addr must be host:port, got ${tcp.addr}`,
    );
  }
  const ws = config.network.ws.server;
  const wsAddr = parseListenAddr(ws.addr);
  if (addr.port !== 0 && wsAddr?.port === addr.port && (wsAddr.host === addr.host || !wsAddr.host || !addr.host)) {
    throw new ConfigError(
      'network.tcp.server.addr',
      tcp.addr,
      `network.tcp.server.addr (${tcp.addr}) and network.ws.server.addr (${ws.addr}) share a port: give one another`,
    );
  }
  // Gate-wide: at due's default a TCP key follows the WebSocket one; set to anything else, it must agree with it.
  const pairs = [
    ['heartbeatInterval', tcp.heartbeatIntervalMs, ws.heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS],
    ['heartbeatMechanism', tcp.heartbeatMechanism, ws.heartbeatMechanism, DEFAULT_HEARTBEAT_MECHANISM],
    ['authorizeTimeout', tcp.authorizeTimeoutMs, ws.authorizeTimeoutMs, DEFAULT_AUTHORIZE_TIMEOUT_MS],
  ] as const;
  for (const [key, mine, gate, dflt] of pairs) {
    if (mine !== gate && mine !== dflt) {
      throw new ConfigError(
        `network.tcp.server.${key}`,
        mine,
        `network.tcp.server.${key} (${mine}) must equal network.ws.server.${key} (${gate}): one gate-wide setting`,
      );
    }
  }
  return {
    host: addr.host || undefined,
    port: addr.port,
    maxConnNum: tcp.maxConnNum,
    tls: tcp.keyFile || tcp.certFile ? { keyFile: tcp.keyFile, certFile: tcp.certFile } : undefined,
    maxFrameBytes,
    byteOrder: config.packet.byteOrder,
    writeQueue: { maxMessages: tcp.writeQueueSize, maxBytes: ws.writeQueueBytes },
    firstCid: TCP_FIRST_CID,
  };
}
