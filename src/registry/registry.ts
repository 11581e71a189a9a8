/**
 * Service discovery (due registry/registry.go). Discovery (read) is split from Registry (write) so the gate's
 * dispatcher depends only on what it reads. `memory`, `consul` and `nats` pass test/contract/registry.contract.ts.
 */

export type ServiceKind = 'gate' | 'node';
/** due's cluster states: shut (not serving), work, busy (chosen when no work), hang (draining: stateful only). */
export type ServiceState = 'shut' | 'work' | 'busy' | 'hang';

/** due's route flags as registered in Consul meta `routes-N` ("{id}-{flags}"). */
export const RouteFlag = { INTERNAL: 1, STATEFUL: 2, AUTHORIZED: 4 } as const;

export interface RouteInfo {
  id: number;
  internal: boolean;
  stateful: boolean;
  authorized: boolean;
}

/** Cluster events (due cluster.Event). */
/** due's three, plus duet's resume (issue 11). */
export const ClusterEvent = { CONNECT: 1, RECONNECT: 2, DISCONNECT: 3, RESUME: 4 } as const;
export type ClusterEvent = (typeof ClusterEvent)[keyof typeof ClusterEvent];

export interface ServiceInstance {
  /** Instance id (unique in the cluster). */
  id: string;
  kind: ServiceKind;
  /** Instance name (due "alias"): nodes with one name form one stateful group. */
  name: string;
  state: ServiceState;
  /** Where the instance is reached, e.g. `bus://duet/node/{id}`. */
  endpoint: string;
  /** Weight for `wrr` (nodes default to 1). */
  weight: number;
  routes: RouteInfo[];
  events: ClusterEvent[];
  metadata: Record<string, string>;
}

export interface Discovery {
  /** Passing instances of one kind. */
  services(kind: ServiceKind, signal?: AbortSignal): Promise<ServiceInstance[]>;
  /** The full list of passing instances now and after every change, until `signal` aborts. */
  watch(kind: ServiceKind, signal: AbortSignal): AsyncIterable<ServiceInstance[]>;
}

export interface Registry extends Discovery, AsyncDisposable {
  /** Registers or re-registers (a state change is a register of the same id). */
  register(instance: ServiceInstance, signal?: AbortSignal): Promise<void>;
  deregister(instance: ServiceInstance, signal?: AbortSignal): Promise<void>;
}

export function routeFlags(r: RouteInfo): number {
  return (
    (r.internal ? RouteFlag.INTERNAL : 0) |
    (r.stateful ? RouteFlag.STATEFUL : 0) |
    (r.authorized ? RouteFlag.AUTHORIZED : 0)
  );
}

export function routeFromFlags(id: number, flags: number): RouteInfo {
  return {
    id,
    internal: (flags & RouteFlag.INTERNAL) !== 0,
    stateful: (flags & RouteFlag.STATEFUL) !== 0,
    authorized: (flags & RouteFlag.AUTHORIZED) !== 0,
  };
}
