import { ConfigError } from '../errors.js';
import {
  ClusterEvent,
  type RouteInfo,
  routeFlags,
  routeFromFlags,
  type ServiceInstance,
  type ServiceKind,
  type ServiceState,
} from './registry.js';

/**
 * due's Consul layout: the registration body
 * (serviceRegistration) and its Meta, both ways:
 *
 *   id kind alias state endpoint   plain strings
 *   weight                         decimal, only when > 0
 *   events                         JSON array of event ids, only when there are any
 *   routes-0, routes-1, …          "{routeId}-{flags}" joined by ",", a new key started before a value passes 512 chars
 *   _{key}                         user metadata
 *
 * Negative route ids are written as they are ("-5-2"). Our decoder splits at the LAST "-" (flags are never
 * negative), so they round-trip. due before the LastIndex fix splits on every "-", gets three parts and skips the
 * item, so a Go instance of that era ignores the route instead of misreading it; newer due splits at the last "-"
 * as we do and reads it correctly. The v2.2-2.3 triple "{id}-{stateful}-{internal}" is also read (never written),
 * so a mixed cluster with old Go instances is understood rather than misrouted.
 */

/** Consul's limit on one Meta value (structs.MetaValueMaxLength). */
export const META_VALUE_MAX_CHARS = 512;
/** Consul's limits on Meta keys (structs.MetaKeyMaxLength, MetaMaxKeyPairs). */
export const META_KEY_MAX_CHARS = 128;
export const META_MAX_PAIRS = 64;
/** Prefix due gives user metadata keys (defaultMetadataPrefix). */
export const USER_META_PREFIX = '_';

const ROUTES_FIELD = 'routes';
const META_KEY_RE = /^[A-Za-z0-9_-]+$/;
const INT_RE = /^-?\d+$/;
const KINDS: readonly ServiceKind[] = ['gate', 'node'];
const STATES: readonly ServiceState[] = ['shut', 'work', 'busy', 'hang'];
const EVENTS: readonly ClusterEvent[] = Object.values(ClusterEvent);

export function isServiceKind(v: unknown): v is ServiceKind {
  return KINDS.some((k) => k === v);
}

export function isServiceState(v: unknown): v is ServiceState {
  return STATES.some((s) => s === v);
}

function isClusterEvent(v: unknown): v is ClusterEvent {
  return EVENTS.some((e) => e === v);
}

/** The `routes-N` values, split as due splits them (a chunk never passes 512 chars unless one item does). */
export function encodeRoutes(routes: readonly RouteInfo[]): Record<string, string> {
  const out: Record<string, string> = {};
  let items: string[] = [];
  let size = 0;
  let n = 0;
  const flush = (): void => {
    if (items.length === 0) return;
    out[`${ROUTES_FIELD}-${n++}`] = items.join(',');
    items = [];
    size = 0;
  };
  for (const r of routes) {
    const val = `${r.id}-${routeFlags(r)}`;
    if (size > 0 && size + 1 + val.length > META_VALUE_MAX_CHARS) flush();
    items.push(val);
    size = size === 0 ? val.length : size + 1 + val.length;
  }
  flush();
  return out;
}

/** Reads `routes-N` keys in N order; malformed items are skipped (they come from other processes). */
export function decodeRoutes(meta: Readonly<Record<string, string>>): RouteInfo[] {
  const chunks: number[] = [];
  for (const key of Object.keys(meta)) {
    const m = /^routes-(\d+)$/.exec(key);
    if (m) chunks.push(Number(m[1]));
  }
  chunks.sort((a, b) => a - b);
  const routes: RouteInfo[] = [];
  for (const n of chunks) {
    const value = meta[`${ROUTES_FIELD}-${n}`] ?? '';
    for (const item of value.split(',')) {
      const r = decodeRouteItem(item.trim());
      if (r) routes.push(r);
    }
  }
  return routes;
}

function decodeRouteItem(item: string): RouteInfo | undefined {
  if (item === '') return undefined;
  const parts = item.split('-');
  // v2.2-2.3 triple "{id}-{stateful}-{internal}": three non-empty parts (a negative id would start with "-").
  if (parts.length === 3 && !item.startsWith('-')) {
    const [id, stateful, internal] = parts.map(toInt);
    if (id === undefined || stateful === undefined || internal === undefined) return undefined;
    return { id, internal: internal !== 0, stateful: stateful !== 0, authorized: false };
  }
  const at = item.lastIndexOf('-');
  if (at <= 0) return undefined;
  const id = toInt(item.slice(0, at));
  const flags = toInt(item.slice(at + 1));
  if (id === undefined || flags === undefined || flags < 0) return undefined;
  return routeFromFlags(id, flags);
}

function toInt(s: string | undefined): number | undefined {
  if (s === undefined || !INT_RE.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The whole Meta map for one instance. Throws ConfigError when a value or key would be refused by Consul (the
 * user metadata comes from `cluster.*.metadata`, so the path names that key).
 */
export function encodeMeta(instance: ServiceInstance): Record<string, string> {
  const meta: Record<string, string> = {
    id: instance.id,
    kind: instance.kind,
    alias: instance.name,
    state: instance.state,
    endpoint: instance.endpoint,
  };
  if (instance.weight > 0) meta.weight = String(Math.trunc(instance.weight));
  if (instance.events.length > 0) meta.events = JSON.stringify(instance.events);
  Object.assign(meta, encodeRoutes(instance.routes));
  for (const [key, value] of Object.entries(meta)) {
    if (value.length > META_VALUE_MAX_CHARS) {
      throw new ConfigError(
        key,
        value,
        `consul meta ${key} must be at most ${META_VALUE_MAX_CHARS} chars, got ${value.length}`,
      );
    }
  }
  for (const [key, value] of Object.entries(instance.metadata)) {
    const path = `metadata.${key}`;
    const metaKey = `${USER_META_PREFIX}${key}`;
    if (!META_KEY_RE.test(key)) {
      throw new ConfigError(path, key, `metadata key must use only letters, digits, "_" and "-", got "${key}"`);
    }
    if (metaKey.length > META_KEY_MAX_CHARS) {
      throw new ConfigError(
        path,
        key,
        `metadata key must be at most ${META_KEY_MAX_CHARS - 1} chars, got ${key.length}`,
      );
    }
    if (value.length > META_VALUE_MAX_CHARS) {
      throw new ConfigError(
        path,
        value,
        `metadata value must be at most ${META_VALUE_MAX_CHARS} chars, got ${value.length}`,
      );
    }
    meta[metaKey] = value;
  }
  const pairs = Object.keys(meta).length;
  if (pairs > META_MAX_PAIRS) {
    throw new ConfigError('routes', pairs, `consul meta must have at most ${META_MAX_PAIRS} keys, got ${pairs}`);
  }
  return meta;
}

/**
 * One instance from a Meta map, or undefined when the entry is not a duet/due instance (no id, unknown kind or
 * state). Tolerant of everything else: a bad weight reads 0, bad events are dropped. Never throws.
 */
export function decodeMeta(meta: Readonly<Record<string, string>>): ServiceInstance | undefined {
  const { id, kind, state } = meta;
  if (!id || !isServiceKind(kind) || !isServiceState(state)) return undefined;
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith(USER_META_PREFIX) || key.length === 1) continue;
    // defineProperty: a key such as "__proto__" from a remote entry must stay a plain key.
    Object.defineProperty(metadata, key.slice(1), { value, enumerable: true, writable: true, configurable: true });
  }
  const weight = toInt(meta.weight ?? '0') ?? 0;
  return {
    id,
    kind,
    name: meta.alias ?? '',
    state,
    endpoint: meta.endpoint ?? '',
    weight: Math.max(weight, 0),
    routes: decodeRoutes(meta),
    events: decodeEvents(meta),
    metadata,
  };
}

/** `events` (due writes one JSON array) plus `events-N` chunks (newer due's marshalMetaList), in that order. */
function decodeEvents(meta: Readonly<Record<string, string>>): ClusterEvent[] {
  const values: string[] = [];
  if (meta.events !== undefined) values.push(meta.events);
  const chunks = Object.keys(meta)
    .map((k) => /^events-(\d+)$/.exec(k)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  for (const n of chunks) values.push(meta[`events-${n}`] ?? '');
  const out: ClusterEvent[] = [];
  for (const v of values) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      continue;
    }
    if (!Array.isArray(parsed)) continue;
    for (const e of parsed) {
      if (isClusterEvent(e) && !out.includes(e)) out.push(e);
    }
  }
  return out;
}

/** Consul duration strings as due writes them ("10s"), falling back to ms for sub-second values. */
export function consulDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A /v1/health/service response body → the instances in it; undefined when the body is not a list. Entries come
 * from other processes: anything that is not a due/duet instance is skipped, never thrown.
 */
export function decodeHealthEntries(body: unknown): ServiceInstance[] | undefined {
  if (!Array.isArray(body)) return undefined;
  const out: ServiceInstance[] = [];
  for (const entry of body) {
    if (!isRecord(entry) || !isRecord(entry.Service) || !isRecord(entry.Service.Meta)) continue;
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(entry.Service.Meta)) if (typeof v === 'string') meta[k] = v;
    const instance = decodeMeta(meta);
    if (instance) out.push(instance);
  }
  return out;
}

/** A check as the consul package takes it (lower-case keys; it maps them to Consul's CheckID, TTL, TCP…). */
export interface CheckBody {
  checkid?: string;
  ttl?: string;
  tcp?: string;
  interval?: string;
  timeout?: string;
  status?: string;
  deregistercriticalserviceafter: string;
}

/** A service registration as the consul package takes it. */
export interface ServiceBody {
  name: string;
  id: string;
  meta: Record<string, string>;
  address?: string;
  port?: number;
  checks: CheckBody[];
}

/** due's makeInsID: kind and id, so a gate and a node with one id never overwrite each other. */
export function serviceId(instance: Pick<ServiceInstance, 'kind' | 'id'>): string {
  return `${instance.kind}-${instance.id}`;
}

export interface RegistrationChecks {
  ttlMs: number;
  deregisterAfterMs: number;
  /** due's TCP check, listed before the TTL check as due does. */
  tcp?: { addr: string; host: string; port: number; intervalMs: number; timeoutMs: number };
}

/** due's registration (registrar.go register): Name = kind, ID, Meta, optional TCP check, TTL check service:{ID}. */
export function serviceRegistration(instance: ServiceInstance, c: RegistrationChecks): ServiceBody {
  const id = serviceId(instance);
  const deregister = consulDuration(c.deregisterAfterMs);
  const checks: CheckBody[] = [];
  if (c.tcp) {
    checks.push({
      tcp: c.tcp.addr,
      interval: consulDuration(c.tcp.intervalMs),
      timeout: consulDuration(c.tcp.timeoutMs),
      deregistercriticalserviceafter: deregister,
    });
  }
  checks.push({
    checkid: `service:${id}`,
    ttl: consulDuration(c.ttlMs),
    // Born passing, so a re-register (state change) never flips the instance to critical until the TTL refresh
    // that follows lands; due leaves Status empty (critical) and relies on that refresh alone.
    status: 'passing',
    deregistercriticalserviceafter: deregister,
  });
  return {
    name: instance.kind,
    id,
    meta: encodeMeta(instance),
    ...(c.tcp ? { address: c.tcp.host, port: c.tcp.port } : {}),
    checks,
  };
}
