import type { ServiceInstance } from '../registry/registry.js';

export type DispatchStrategy = 'random' | 'rr' | 'wrr';

/** Picks one instance for a stateless route; holds the per-route state rr and wrr need. */
export interface Picker {
  pick(candidates: readonly ServiceInstance[]): ServiceInstance | undefined;
}

/** Work before busy, never hang or shut (as due's dispatcher picks). */
export function eligible(instances: readonly ServiceInstance[]): ServiceInstance[] {
  const work = instances.filter((i) => i.state === 'work');
  return work.length > 0 ? work : instances.filter((i) => i.state === 'busy');
}

export class RandomPicker implements Picker {
  readonly #random: () => number;
  constructor(random: () => number = Math.random) {
    this.#random = random;
  }
  pick(c: readonly ServiceInstance[]): ServiceInstance | undefined {
    return c.length === 0 ? undefined : c[Math.floor(this.#random() * c.length) % c.length];
  }
}

export class RoundRobinPicker implements Picker {
  #counter = 0;
  pick(c: readonly ServiceInstance[]): ServiceInstance | undefined {
    if (c.length === 0) return undefined;
    this.#counter = (this.#counter + 1) % 1_000_000_007;
    return c[this.#counter % c.length];
  }
}

/** nginx's smooth weighted round robin: add each weight, take the max, subtract the total from it. */
export class SmoothWeightedPicker implements Picker {
  readonly #current = new Map<string, number>();
  pick(c: readonly ServiceInstance[]): ServiceInstance | undefined {
    if (c.length === 0) return undefined;
    let total = 0;
    let best: ServiceInstance | undefined;
    let bestWeight = Number.NEGATIVE_INFINITY;
    for (const i of c) {
      const w = i.weight > 0 ? i.weight : 1;
      total += w;
      const cur = (this.#current.get(i.id) ?? 0) + w;
      this.#current.set(i.id, cur);
      if (cur > bestWeight) {
        bestWeight = cur;
        best = i;
      }
    }
    if (best) this.#current.set(best.id, bestWeight - total);
    if (this.#current.size > c.length * 4) {
      // Forget instances that left, so the map stays the size of the candidate set.
      const ids = new Set(c.map((i) => i.id));
      for (const k of this.#current.keys()) if (!ids.has(k)) this.#current.delete(k);
    }
    return best;
  }
}

export function createPicker(strategy: DispatchStrategy): Picker {
  switch (strategy) {
    case 'rr':
      return new RoundRobinPicker();
    case 'wrr':
      return new SmoothWeightedPicker();
    default:
      return new RandomPicker();
  }
}
