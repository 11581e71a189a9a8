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

/**
 * Route id → serving instances, event → subscribed node ids, built from the registry's node list. Rebuilt from scratch
 * on every registry change (due ReplaceServices); lookups on the hot path are one Map.get.
 */
export class RouteTable {
  readonly routes = new Map<number, RouteEntry>();
  readonly events = new Map<ClusterEvent, string[]>();
  readonly nodes = new Map<string, ServiceInstance>();

  static build(instances: readonly ServiceInstance[], strategy: DispatchStrategy, previous?: RouteTable): RouteTable {
    const t = new RouteTable();
    const sorted = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const inst of sorted) {
      t.nodes.set(inst.id, inst);
      for (const r of inst.routes) {
        let e = t.routes.get(r.id);
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
