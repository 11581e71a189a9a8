import { isServiceKind, isServiceState } from './consul-meta.js';
import { ClusterEvent, type RouteInfo, type ServiceInstance, type ServiceKind } from './registry.js';

/**
 * due's etcd layout (due registry/etcd): one key per instance, `/{namespace}/{kind}/{id}`, whose value is the
 * instance as Go's encoding/json writes due's registry.ServiceInstance: fields in struct order, every one
 * `omitempty` (so a route id 0, weight 0, no events or no metadata are absent), routes as `{"i","n","s","a"}`.
 * `name` there is the service name (gate/node), `alias` the instance name duet calls `name`.
 */

interface DueRoute {
  i?: number;
  n?: boolean;
  s?: boolean;
  a?: boolean;
}

export function etcdPrefix(namespace: string, kind: ServiceKind): string {
  return `/${namespace}/${kind}/`;
}

export function etcdKey(namespace: string, instance: Pick<ServiceInstance, 'kind' | 'id'>): string {
  return `${etcdPrefix(namespace, instance.kind)}${instance.id}`;
}

/** The value due writes: key order and omissions as Go's encoder produces them. */
export function encodeEtcdInstance(ins: ServiceInstance): string {
  const out: Record<string, unknown> = {};
  if (ins.id) out.id = ins.id;
  out.name = ins.kind;
  out.kind = ins.kind;
  if (ins.name) out.alias = ins.name;
  if (ins.state) out.state = ins.state;
  if (ins.events.length > 0) out.events = ins.events;
  if (ins.routes.length > 0) {
    out.routes = ins.routes.map((r) => {
      const o: DueRoute = {};
      if (r.id !== 0) o.i = r.id;
      if (r.internal) o.n = true;
      if (r.stateful) o.s = true;
      if (r.authorized) o.a = true;
      return o;
    });
  }
  if (ins.endpoint) out.endpoint = ins.endpoint;
  const weight = Math.trunc(ins.weight);
  if (weight !== 0) out.weight = weight;
  if (Object.keys(ins.metadata).length > 0) out.metadata = ins.metadata;
  return JSON.stringify(out);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const EVENTS: readonly number[] = Object.values(ClusterEvent);

function decodeRoute(v: unknown): RouteInfo | undefined {
  if (!isRecord(v)) return undefined;
  const id = v.i ?? 0;
  if (typeof id !== 'number' || !Number.isInteger(id)) return undefined;
  return { id, internal: v.n === true, stateful: v.s === true, authorized: v.a === true };
}

/**
 * One stored value back to an instance, or undefined when it is not one this cluster can use (not JSON, a kind
 * other than gate/node such as due's mesh, no id). Tolerant like Go's decoder: bad routes and events are dropped.
 */
export function decodeEtcdInstance(raw: string): ServiceInstance | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(v)) return undefined;
  const kind = v.kind ?? v.name;
  if (!isServiceKind(kind) || typeof v.id !== 'string' || v.id === '') return undefined;
  const metadata: Record<string, string> = {};
  if (isRecord(v.metadata)) {
    for (const [k, val] of Object.entries(v.metadata)) if (typeof val === 'string') metadata[k] = val;
  }
  const routes = Array.isArray(v.routes) ? v.routes.map(decodeRoute).filter((r) => r !== undefined) : [];
  const events = Array.isArray(v.events)
    ? v.events.filter((e): e is ClusterEvent => typeof e === 'number' && EVENTS.includes(e))
    : [];
  const weight = typeof v.weight === 'number' && Number.isFinite(v.weight) ? Math.max(Math.trunc(v.weight), 0) : 0;
  return {
    id: v.id,
    kind,
    name: typeof v.alias === 'string' ? v.alias : '',
    state: isServiceState(v.state) ? v.state : 'shut',
    endpoint: typeof v.endpoint === 'string' ? v.endpoint : '',
    weight,
    routes,
    events,
    metadata,
  };
}
