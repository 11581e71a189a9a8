import { type LocateEvent, LocateEventType, type Uid } from './locator.js';

/**
 * The Redis locator's local view: uid → gid and uid → {name → nid}, fed by the change events, plus single-flight
 * reads so concurrent misses on one key share one Redis call.
 *
 * An entry is `string` (bound), `null` (known unbound) or absent (unknown). Entries are only trusted while
 * `live` (the event subscription is confirmed): a read result is stored only if no event or drop touched its key
 * while the read was in flight, so a late reply can never overwrite a newer event.
 */

export type Cached = string | null | undefined;

interface Flight {
  readonly promise: Promise<string | null>;
  stale: boolean;
}

export interface LocateCacheStats {
  /** Lookups answered from the cache. */
  hits: number;
  /** Lookups that went to Redis (shared reads counted once per caller). */
  misses: number;
  /** Redis reads actually issued (misses minus the ones that joined a flight). */
  reads: number;
  /** Times the whole cache was dropped (a (re)connect). */
  drops: number;
}

export const DEFAULT_CACHE_MAX_USERS = 100_000;

export class LocateCache {
  readonly #gates = new Map<Uid, string | null>();
  readonly #nodes = new Map<Uid, Map<string, string | null>>();
  readonly #flights = new Map<string, Flight>();
  readonly #maxUsers: number;
  #live = false;
  readonly stats: LocateCacheStats = { hits: 0, misses: 0, reads: 0, drops: 0 };

  constructor(maxUsers = DEFAULT_CACHE_MAX_USERS) {
    this.#maxUsers = maxUsers;
  }

  /** True while the event subscription is confirmed, i.e. the cache cannot silently miss a change. */
  get live(): boolean {
    return this.#live;
  }

  set live(v: boolean) {
    this.#live = v;
  }

  get size(): number {
    return this.#gates.size + this.#nodes.size;
  }

  gate(uid: Uid): Cached {
    return this.#gates.get(uid);
  }

  node(uid: Uid, name: string): Cached {
    return this.#nodes.get(uid)?.get(name);
  }

  /** Forgets everything: events may have been lost while the connection was down. */
  drop(): void {
    this.#gates.clear();
    this.#nodes.clear();
    for (const f of this.#flights.values()) f.stale = true;
    this.stats.drops++;
  }

  /** Applies a change event (from any instance, this one included). */
  apply(e: LocateEvent): void {
    const bound = e.type === LocateEventType.BIND_GATE || e.type === LocateEventType.BIND_NODE;
    if (e.insKind === 'gate') {
      this.#markStale(gateFlightKey(e.uid));
      if (!this.#live) return;
      this.#gates.delete(e.uid); // re-insert so eviction order follows recency
      this.#gates.set(e.uid, bound ? e.insID : null);
      this.#evict(this.#gates);
    } else {
      this.#markStale(nodeFlightKey(e.uid, e.insName));
      if (!this.#live) return;
      this.#nodeMap(e.uid).set(e.insName, bound ? e.insID : null);
    }
  }

  /** This instance changed the key: forget the entry so the next lookup reads it (the event will refill it). */
  forgetGate(uid: Uid): void {
    this.#markStale(gateFlightKey(uid));
    this.#gates.delete(uid);
  }

  forgetNode(uid: Uid, name: string): void {
    this.#markStale(nodeFlightKey(uid, name));
    this.#nodes.get(uid)?.delete(name);
  }

  hit(): void {
    this.stats.hits++;
  }

  loadGate(uid: Uid, read: () => Promise<string | null>): Promise<string | null> {
    return this.#load(gateFlightKey(uid), read, (v) => {
      this.#gates.set(uid, v);
      this.#evict(this.#gates);
    });
  }

  loadNode(uid: Uid, name: string, read: () => Promise<string | null>): Promise<string | null> {
    return this.#load(nodeFlightKey(uid, name), read, (v) => this.#nodeMap(uid).set(name, v));
  }

  #load(key: string, read: () => Promise<string | null>, store: (v: string | null) => void): Promise<string | null> {
    this.stats.misses++;
    // A stale flight started before a change this instance knows about: its answer may predate it, so don't join.
    const running = this.#flights.get(key);
    if (running && !running.stale) return running.promise;
    this.stats.reads++;
    const flight: Flight = {
      stale: false,
      promise: read().then(
        (v) => {
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
          if (!flight.stale && this.#live) store(v);
          return v;
        },
        (err: unknown) => {
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
          throw err;
        },
      ),
    };
    this.#flights.set(key, flight);
    return flight.promise;
  }

  #markStale(key: string): void {
    const f = this.#flights.get(key);
    if (f) f.stale = true;
  }

  #nodeMap(uid: Uid): Map<string, string | null> {
    let m = this.#nodes.get(uid);
    if (!m) {
      m = new Map();
      this.#nodes.set(uid, m);
      this.#evict(this.#nodes);
    }
    return m;
  }

  /** Bounded memory: drop the oldest users first (Map iterates in insertion order). */
  #evict<V>(m: Map<Uid, V>): void {
    while (m.size > this.#maxUsers) {
      const oldest = m.keys().next();
      if (oldest.done) return;
      m.delete(oldest.value);
    }
  }
}

function gateFlightKey(uid: Uid): string {
  return `g:${uid}`;
}

function nodeFlightKey(uid: Uid, name: string): string {
  return `n:${uid}:${name}`;
}
