import type { AsyncQueue } from '../async-queue.js';
import { ClosedError } from '../errors.js';
import { Watchers } from '../watchers.js';
import {
  type ActorPlacement,
  type LocateEvent,
  LocateEventType,
  type LocateKind,
  type Locator,
  type Uid,
} from './locator.js';
import { ReconnectSignal } from './reconnect-signal.js';
import { checkUid } from './uid.js';

/** In-process locator with the same semantics as the Redis one (compare-and-delete, events after changes). */
export class MemoryLocator implements Locator {
  readonly #gates = new Map<Uid, string>();
  readonly #nodes = new Map<Uid, Map<string, string>>();
  readonly #watchers = new Watchers<LocateEvent>();
  readonly #kinds = new Map<AsyncQueue<LocateEvent>, ReadonlySet<LocateKind>>();
  readonly #reconnected = new ReconnectSignal();
  /** Actor placements; a freed one keeps its token (nid "") so tokens never go back. */
  readonly #actors = new Map<string, ActorPlacement>();
  /** Node leases: performance.now() until which each holds. */
  readonly #leases = new Map<string, number>();
  #closed = false;

  #check(uid: Uid): void {
    if (this.#closed) throw new ClosedError('locator is closed');
    checkUid(uid);
  }

  async bindGate(uid: Uid, gid: string): Promise<string | undefined> {
    this.#check(uid);
    const previous = this.#gates.get(uid);
    this.#gates.set(uid, gid);
    this.#emit({ uid, type: LocateEventType.BIND_GATE, insID: gid, insKind: 'gate', insName: '' });
    return previous;
  }

  async unbindGate(uid: Uid, gid: string): Promise<void> {
    this.#check(uid);
    if (this.#gates.get(uid) !== gid) return;
    this.#gates.delete(uid);
    this.#emit({ uid, type: LocateEventType.UNBIND_GATE, insID: gid, insKind: 'gate', insName: '' });
  }

  async bindNode(uid: Uid, name: string, nid: string): Promise<void> {
    this.#check(uid);
    let m = this.#nodes.get(uid);
    if (!m) {
      m = new Map();
      this.#nodes.set(uid, m);
    }
    m.set(name, nid);
    this.#emit({ uid, type: LocateEventType.BIND_NODE, insID: nid, insKind: 'node', insName: name });
  }

  async unbindNode(uid: Uid, name: string, nid: string): Promise<void> {
    this.#check(uid);
    const m = this.#nodes.get(uid);
    if (!m || m.get(name) !== nid) return;
    m.delete(name);
    if (m.size === 0) this.#nodes.delete(uid);
    this.#emit({ uid, type: LocateEventType.UNBIND_NODE, insID: nid, insKind: 'node', insName: name });
  }

  async claimGate(uid: Uid, gid: string): Promise<string> {
    const held = await this.locateGate(uid);
    if (held !== undefined) return held;
    await this.bindGate(uid, gid);
    return gid;
  }

  async claimNode(uid: Uid, name: string, nid: string): Promise<string> {
    const held = await this.locateNode(uid, name);
    if (held !== undefined) return held;
    await this.bindNode(uid, name, nid);
    return nid;
  }

  onReconnect(listener: () => void): () => void {
    return this.#reconnected.on(listener);
  }

  /**
   * Forgets every binding and then runs the reconnect listeners, the way a store restarted without persistence
   * looks to its clients (the in-process store itself never loses anything; tests of re-assertion use this).
   */
  reset(): void {
    if (this.#closed) throw new ClosedError('locator is closed');
    this.#gates.clear();
    this.#nodes.clear();
    const errors = this.#reconnected.fire();
    if (errors.length > 0) throw new AggregateError(errors, 'a reconnect listener failed');
  }

  async locateGate(uid: Uid): Promise<string | undefined> {
    this.#check(uid);
    return this.#gates.get(uid);
  }

  async locateNode(uid: Uid, name: string): Promise<string | undefined> {
    this.#check(uid);
    return this.#nodes.get(uid)?.get(name);
  }

  async locateNodes(uid: Uid): Promise<Record<string, string>> {
    this.#check(uid);
    return Object.fromEntries(this.#nodes.get(uid) ?? []);
  }

  watch(kinds: readonly LocateKind[], signal: AbortSignal): AsyncIterable<LocateEvent> {
    // One stream per watch call, fed by #emit for the kinds it asked for; ended by abort or dispose.
    const q = this.#watchers.add(this.#closed ? AbortSignal.abort() : signal);
    this.#kinds.set(q, new Set(kinds));
    return q;
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('locator is closed');
  }

  async renewLease(nid: string, ttlMs: number): Promise<void> {
    this.#open();
    this.#leases.set(nid, performance.now() + ttlMs);
  }

  async dropLease(nid: string): Promise<void> {
    this.#open();
    this.#leases.delete(nid);
  }

  async placeActor(key: string, nid: string): Promise<ActorPlacement> {
    this.#open();
    const cur = this.#actors.get(key);
    if (cur && cur.nid !== '') {
      const lease = this.#leases.get(cur.nid);
      if (cur.nid === nid || (lease !== undefined && lease > performance.now())) return { ...cur };
    }
    const next = { nid, token: (cur?.token ?? 0) + 1 };
    this.#actors.set(key, next);
    return { ...next };
  }

  async releaseActor(key: string, placement: ActorPlacement): Promise<boolean> {
    this.#open();
    const cur = this.#actors.get(key);
    if (!cur || cur.nid !== placement.nid || cur.token !== placement.token) return false;
    this.#actors.set(key, { nid: '', token: cur.token });
    return true;
  }

  async locateActor(key: string): Promise<ActorPlacement | undefined> {
    this.#open();
    const cur = this.#actors.get(key);
    return cur && cur.nid !== '' ? { ...cur } : undefined;
  }

  #emit(e: LocateEvent): void {
    for (const [q, kinds] of this.#kinds) {
      if (q.ended) this.#kinds.delete(q);
      else if (kinds.has(e.insKind)) q.push(e);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    this.#reconnected.clear();
    this.#watchers.endAll();
    this.#kinds.clear();
  }
}
