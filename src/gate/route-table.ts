import type { ClusterEvent, RouteInfo, ServiceInstance } from '../registry/registry.js';
import { createPicker, type DispatchStrategy, eligible, type Picker } from './strategy.js';

export interface RouteEntry {
  readonly info: RouteInfo;
  /** Stateful group: the name of the first instance seen registering the route (due). */
  readonly group: string;
  readonly instances: ServiceInstance[];
  /** Eligible for stateless picks (work, else busy), computed once per table rebuild. */
  readonly candidates: ServiceInstance[];
  readonly picker: Picker;
}

/** What a gate can reach, and where it says what it ignores. */
export interface RouteTableScope {
  /** Endpoint prefix of the instances on this gate's bus, e.g. `bus://duet/`; others (due's drpc) are skipped. */
  reachable: string;
  warn(msg: string, fields: Record<string, unknown>): void;
}

/**
 * Route id → serving instances, event → subscribed node ids, built from the registry's node list. Rebuilt from scratch
 * on every registry change (due ReplaceServices); lookups on the hot path are one Map.get.
 */
export class RouteTable {
  readonly routes = new Map<number, RouteEntry>();
  readonly events = new Map<ClusterEvent, string[]>();
  readonly nodes = new Map<string, ServiceInstance>();
  /** What was already warned about, shared by every rebuild so each warning is said once. */
  readonly warned: Set<string>;

  constructor(warned = new Set<string>()) {
    this.warned = warned;
  }

  static build(
    instances: readonly ServiceInstance[],
    strategy: DispatchStrategy,
    previous?: RouteTable,
    scope?: RouteTableScope,
  ): RouteTable {
    const t = new RouteTable(previous?.warned);
    const once = (key: string, msg: string, fields: Record<string, unknown>): void => {
      if (!scope || t.warned.has(key)) return;
      t.warned.add(key);
      scope.warn(msg, fields);
    };
    const sorted = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const inst of sorted) {
      // A registry shared with due holds instances reached over drpc: routing to them over the bus loses the message.
      if (scope && !inst.endpoint.startsWith(scope.reachable)) {
        once(`unreachable ${inst.id}`, `ignoring node ${inst.name} ${inst.id}: not reachable on this gate's bus`, {
          endpoint: inst.endpoint,
          reachable: scope.reachable,
        });
        continue;
      }
      t.nodes.set(inst.id, inst);
      for (const r of inst.routes) {
        let e = t.routes.get(r.id);
        if (e && e.group !== inst.name && (r.stateful || e.info.stateful)) {
          const names = [e.group, inst.name].sort();
          once(
            `group ${r.id} ${names.join(' ')}`,
            `stateful route ${r.id} is registered by nodes named "${names[0]}" and "${names[1]}": it is bound to "${e.group}" (first seen), users bound to "${inst.name}" get no answer on it`,
            { route: r.id, group: e.group, other: inst.name },
          );
        }
        if (!e) {
          // Keep the picker across rebuilds so rr/wrr stay smooth when an unrelated instance changes.
          const picker = previous?.routes.get(r.id)?.picker ?? createPicker(strategy);
          e = { info: r, group: inst.name, instances: [], candidates: [], picker };
          t.routes.set(r.id, e);
        }
        e.instances.push(inst);
      }
      for (const ev of inst.events) {
        const list = t.events.get(ev) ?? [];
        list.push(inst.id);
        t.events.set(ev, list);
      }
    }
    for (const e of t.routes.values()) e.candidates.push(...eligible(e.instances));
    return t;
  }
}
