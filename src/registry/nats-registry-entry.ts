import { isServiceKind, isServiceState } from './consul-meta.js';
import { ClusterEvent, type RouteInfo, type ServiceInstance } from './registry.js';

/** The JSON one NATS KV registry key holds (nats-registry.ts), and its checked parsing. */

const EVENTS: readonly ClusterEvent[] = Object.values(ClusterEvent);
/** Refresh interval assumed for entries that do not carry theirs (nats-registry.ts's default). */
const DEFAULT_REFRESH_INTERVAL_MS = 3_000;

/** What one key holds. */
export interface StoredInstance extends ServiceInstance {
  refreshedAt: number;
  refreshIntervalMs: number;
}

/** One id → one key token: anything outside [-\w] becomes =XX (KV keys allow "="; "." would split the token). */
export function keyToken(id: string): string {
  return Array.from(new TextEncoder().encode(id), (b) => {
    const c = String.fromCharCode(b);
    return /[-\w]/.test(c) && b < 0x80 ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

function positiveOr(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : dflt;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseRoute(v: unknown): RouteInfo | undefined {
  if (!isRecord(v) || typeof v.id !== 'number' || !Number.isSafeInteger(v.id)) return undefined;
  return { id: v.id, internal: v.internal === true, stateful: v.stateful === true, authorized: v.authorized === true };
}

/** A value written by another process, checked field by field; undefined when it is not an instance. */
export function parseStored(bytes: Uint8Array): StoredInstance | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v.id !== 'string' || !isServiceKind(v.kind) || !isServiceState(v.state)) return undefined;
  const routes = Array.isArray(v.routes) ? v.routes.map(parseRoute) : [];
  if (routes.some((r) => r === undefined)) return undefined;
  const events = Array.isArray(v.events) ? v.events.filter((e): e is ClusterEvent => EVENTS.some((x) => x === e)) : [];
  const metadata: Record<string, string> = {};
  if (isRecord(v.metadata)) {
    for (const [k, val] of Object.entries(v.metadata)) {
      if (typeof val === 'string') Object.defineProperty(metadata, k, { value: val, enumerable: true, writable: true });
    }
  }
  return {
    id: v.id,
    kind: v.kind,
    name: typeof v.name === 'string' ? v.name : '',
    state: v.state,
    endpoint: typeof v.endpoint === 'string' ? v.endpoint : '',
    weight: positiveOr(v.weight, 0),
    routes: routes.filter((r): r is RouteInfo => r !== undefined),
    events,
    metadata,
    refreshedAt: typeof v.refreshedAt === 'number' ? v.refreshedAt : 0,
    refreshIntervalMs: positiveOr(v.refreshIntervalMs, DEFAULT_REFRESH_INTERVAL_MS),
  };
}

export function toInstance(s: StoredInstance): ServiceInstance {
  const { refreshedAt: _r, refreshIntervalMs: _i, ...instance } = s;
  return instance;
}
