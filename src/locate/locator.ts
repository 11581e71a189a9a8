/**
 * User location (due locate/locator.go): uid → gate instance, uid → {node name → node instance}.
 * `memory` for one process, `redis` with due's key layout; both pass test/contract/locator.contract.ts.
 */

/** A user id: a safe integer (docs/protocol.md, Ids); 0 means unbound. */
export type Uid = number;

export const LocateEventType = { BIND_GATE: 1, BIND_NODE: 2, UNBIND_GATE: 3, UNBIND_NODE: 4 } as const;
export type LocateEventType = (typeof LocateEventType)[keyof typeof LocateEventType];
export type LocateKind = 'gate' | 'node';

/** The JSON due publishes on `{prefix}:locate:cluster:{kind}:event`, field names as due writes them. */
export interface LocateEvent {
  uid: Uid;
  type: LocateEventType;
  insID: string;
  insKind: LocateKind;
  insName: string;
}

/** Where a cluster actor runs: its node, and a fencing token that grows with every change of owner. */
export interface ActorPlacement {
  nid: string;
  token: number;
}

export interface Locator extends AsyncDisposable {
  /**
   * Binds uid to a gate instance and resolves with the gate it was bound to before (undefined for none), read
   * atomically with the write; rejects UnavailableError when the store is down.
   */
  bindGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Compare-and-delete: removes the binding only if it still names `gid`. */
  unbindGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<void>;
  bindNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<void>;
  /** Compare-and-delete on the node name's field. */
  unbindNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<void>;
  /** undefined when unbound. */
  locateGate(uid: Uid, signal?: AbortSignal): Promise<string | undefined>;
  locateNode(uid: Uid, name: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Every node name → node id `uid` is bound to (due LocateNodes); {} when none. */
  locateNodes(uid: Uid, signal?: AbortSignal): Promise<Record<string, string>>;
  /** Change events of the given kinds until `signal` aborts. */
  watch(kinds: readonly LocateKind[], signal: AbortSignal): AsyncIterable<LocateEvent>;
  /**
   * Binds uid to `gid` only when no gate holds it (an event goes out only then); resolves the gate that holds it
   * afterwards, `gid` when the claim took. For re-asserting after a store restart: never overwrites a newer login.
   */
  claimGate(uid: Uid, gid: string, signal?: AbortSignal): Promise<string>;
  /** claimGate for the node name's field: binds only when the field is empty; resolves the nid holding it. */
  claimNode(uid: Uid, name: string, nid: string, signal?: AbortSignal): Promise<string>;
  /**
   * `listener` runs each time the store is reachable again after its connection was lost: the store may have
   * restarted empty, so whoever holds bindings claims them again. Returns the function that removes it.
   */
  onReconnect(listener: () => void): () => void;
  /** Keeps node `nid`'s placement lease alive for `ttlMs` more: its actor placements hold while it lives. */
  renewLease(nid: string, ttlMs: number, signal?: AbortSignal): Promise<void>;
  /** Ends `nid`'s lease now (graceful stop), so its placements can be taken at once. */
  dropLease(nid: string, signal?: AbortSignal): Promise<void>;
  /**
   * Compare-and-set: places actor `key` on `nid` unless another node whose lease is alive holds it. Returns the
   * placement in force either way (the caller runs the actor only when it names the caller). A new owner gets the
   * previous token + 1, so a stale owner can always be told apart.
   */
  placeActor(key: string, nid: string, signal?: AbortSignal): Promise<ActorPlacement>;
  /** Compare-and-delete: frees `key` only if it still holds exactly `placement`; true when it did. */
  releaseActor(key: string, placement: ActorPlacement, signal?: AbortSignal): Promise<boolean>;
  /** The placement recorded for `key` (its owner's lease may have run out), or undefined. */
  locateActor(key: string, signal?: AbortSignal): Promise<ActorPlacement | undefined>;
}
