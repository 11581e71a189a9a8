import { errorMessage } from '../errors.js';
import {
  type ActorPlacement,
  type LocateEvent,
  LocateEventType,
  type LocateKind,
  type Locator,
  type Uid,
} from '../locate/locator.js';
import { Reasserter } from '../locate/reassert.js';
import type { Log } from '../log/types.js';

interface Held {
  uid: Uid;
  name: string;
  nid: string;
}

const key = (uid: Uid, name: string): string => `${uid}/${name}`;

/**
 * The node's view of the locator: everything passes through, and the uid → node bindings this node made are
 * remembered (until unbound here or rebound elsewhere, as the locator's events tell), so that when the locator
 * reconnects, possibly to a store restarted empty, the node claims them again. Users bound and never unbound stay
 * remembered, as they stay bound in the store (due's default).
 */
export class HeldNodeBindings implements Locator {
  readonly #inner: Locator;
  readonly #held = new Map<string, Held>();
  readonly #abort = new AbortController();
  readonly #rebind: Reasserter<Held>;
  readonly #log: Log;

  constructor(inner: Locator, log: Log) {
    this.#inner = inner;
    this.#log = log;
    this.#rebind = new Reasserter<Held>({
      locator: inner,
      what: 'node bindings',
      log,
      held: () => this.#held.values(),
      claim: async (h) => {
        const owner = await inner.claimNode(h.uid, h.name, h.nid);
        if (owner === h.nid) return 'kept';
        this.#forget(h.uid, h.name, h.nid);
        return 'lost';
      },
    });
  }

  /** Bindings remembered now. */
  get size(): number {
    return this.#held.size;
  }

  get stats(): Reasserter<Held>['stats'] {
    return this.#rebind.stats;
  }

  /** Follows the locator's node events and re-asserts on every reconnect, until stop(). */
  start(): void {
    this.#rebind.start();
    void (async () => {
      for await (const e of this.#inner.watch(['node'], this.#abort.signal)) this.#onEvent(e);
    })().catch((err: unknown) => this.#log.warn('node bindings watch ended', { err: errorMessage(err) }));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#rebind.stop();
  }

  #onEvent(e: LocateEvent): void {
    const h = this.#held.get(key(e.uid, e.insName));
    if (!h) return;
    // Another node took the user, or the binding was removed elsewhere: no longer this node's to re-assert.
    if (e.type === LocateEventType.BIND_NODE ? e.insID !== h.nid : e.insID === h.nid)
      this.#held.delete(key(e.uid, e.insName));
  }

  #forget(uid: Uid, name: string, nid: string): void {
    if (this.#held.get(key(uid, name))?.nid === nid) this.#held.delete(key(uid, name));
  }

  async bindNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<void> {
    await this.#inner.bindNode(uid, name, nid, signal);
    this.#held.set(key(uid, name), { uid, name, nid });
  }

  async unbindNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<void> {
    await this.#inner.unbindNode(uid, name, nid, signal);
    this.#forget(uid, name, nid);
  }

  bindGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.#inner.bindGate(uid, gid, signal);
  }

  unbindGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<void> {
    return this.#inner.unbindGate(uid, gid, signal);
  }

  locateGate(uid: Uid, signal?: AbortSignal): Promise<string | undefined> {
    return this.#inner.locateGate(uid, signal);
  }

  locateNode(uid: Uid, name: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.#inner.locateNode(uid, name, signal);
  }

  watch(kinds: readonly LocateKind[], signal: AbortSignal): AsyncIterable<LocateEvent> {
    return this.#inner.watch(kinds, signal);
  }

  claimGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<string> {
    return this.#inner.claimGate(uid, gid, signal);
  }

  claimNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<string> {
    return this.#inner.claimNode(uid, name, nid, signal);
  }

  onReconnect(listener: () => void): () => void {
    return this.#inner.onReconnect(listener);
  }

  locateNodes(uid: Uid, signal?: AbortSignal): Promise<Record<string, string>> {
    return this.#inner.locateNodes(uid, signal);
  }

  renewLease(nid: string, ttlMs: number, signal?: AbortSignal): Promise<void> {
    return this.#inner.renewLease(nid, ttlMs, signal);
  }

  dropLease(nid: string, signal?: AbortSignal): Promise<void> {
    return this.#inner.dropLease(nid, signal);
  }

  placeActor(key: string, nid: string, signal?: AbortSignal): Promise<ActorPlacement> {
    return this.#inner.placeActor(key, nid, signal);
  }

  releaseActor(key: string, placement: ActorPlacement, signal?: AbortSignal): Promise<boolean> {
    return this.#inner.releaseActor(key, placement, signal);
  }

  locateActor(key: string, signal?: AbortSignal): Promise<ActorPlacement | undefined> {
    return this.#inner.locateActor(key, signal);
  }

  /** The node does not own the store: this only stops following it. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
