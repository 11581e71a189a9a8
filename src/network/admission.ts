/**
 * Pure upgrade checks (docs/protocol.md, Transport): decided from the request line, the Origin header and the current
 * load, before any WebSocket handshake, so a refused client gets a plain HTTP status and never sees 'open'.
 * No sockets here: test/unit/admission.test.ts drives every rule.
 */
import type { Refusal } from './transport.js';

/** due's defaults. */
export const DEFAULT_WS_PATH = '/';
export const DEFAULT_ORIGINS: readonly string[] = ['*'];
export const DEFAULT_MAX_CONN_NUM = 5000;

/** Stable reasons; they are the keys of TransportStats.refused and the body of the HTTP answer. */
export const RefusalReason = {
  METHOD: 'method-not-allowed',
  PATH: 'path-not-found',
  ORIGIN: 'origin-not-allowed',
  CLOSING: 'closing',
  MAX_CONN: 'too-many-connections',
  MAX_CONN_PER_IP: 'too-many-connections-per-ip',
  UPGRADE_HOOK: 'upgrade-refused',
  /** Before any request byte is read (handshake-guard.ts): too many sockets not yet upgraded, or too slow. */
  MAX_HANDSHAKE: 'too-many-handshakes',
  MAX_HANDSHAKE_PER_IP: 'too-many-handshakes-per-ip',
  HANDSHAKE_TIMEOUT: 'handshake-timeout',
} as const;
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason];

export interface AdmissionPolicy {
  /** "/" accepts every path (due registers on Go's DefaultServeMux); anything else is an exact pathname match. */
  path: string;
  /** "*" anywhere admits all, including no Origin header; [] rejects all; "" admits requests without Origin. */
  origins: readonly string[];
  /** Live connections (plus upgrades in flight) at which new upgrades get 503. */
  maxConnNum: number;
  /** Live connections from one IP at which new upgrades from it get 429; 0 = no limit. */
  maxConnPerIp: number;
}

export interface UpgradeRequest {
  method: string | undefined;
  /** The request target as sent (`/ws?x=1`, or absolute-form). */
  url: string | undefined;
  origin: string | undefined;
}

export interface AdmissionLoad {
  /** Live connections plus admitted upgrades not yet open. */
  connections: number;
  /** The same count for the requesting IP. */
  connectionsFromIp: number;
  /** refuseNew() or close() was called. */
  isRefusingNew: boolean;
}

/**
 * Returns undefined to accept or the Refusal to answer. Order: client mistakes first (405, 404, 403), then load
 * (503 closing, 503 maxConnNum, 429 per IP), so a misconfigured client learns its real error even under load.
 */
export function admit(policy: AdmissionPolicy, req: UpgradeRequest, load: AdmissionLoad): Refusal | undefined {
  if (req.method !== 'GET') return { status: 405, reason: RefusalReason.METHOD };
  if (!isPathAllowed(policy.path, req.url)) return { status: 404, reason: RefusalReason.PATH };
  if (!isOriginAllowed(policy.origins, req.origin)) return { status: 403, reason: RefusalReason.ORIGIN };
  if (load.isRefusingNew) return { status: 503, reason: RefusalReason.CLOSING };
  if (load.connections >= policy.maxConnNum) return { status: 503, reason: RefusalReason.MAX_CONN };
  if (policy.maxConnPerIp > 0 && load.connectionsFromIp >= policy.maxConnPerIp) {
    // 429 rather than 503: the server has room, this client asked for too much (RFC 6585).
    return { status: 429, reason: RefusalReason.MAX_CONN_PER_IP };
  }
  return undefined;
}

export function isPathAllowed(path: string, url: string | undefined): boolean {
  if (path === '/') return true;
  const pathname = pathnameOf(url);
  return pathname !== undefined && pathname === path;
}

export function isOriginAllowed(origins: readonly string[], origin: string | undefined): boolean {
  if (origins.includes('*')) return true;
  return origins.includes(origin ?? '');
}

/** The path part of a request target, without query or fragment; undefined when it cannot be parsed. */
export function pathnameOf(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  if (url.startsWith('/') && !url.startsWith('//')) {
    const end = url.search(/[?#]/);
    return end === -1 ? url : url.slice(0, end);
  }
  try {
    // absolute-form (`http://host/ws`) is legal in a request line (RFC 9112 3.2.2)
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}
