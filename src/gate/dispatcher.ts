import { type Batcher, type BatchMessage, batchMessage } from '../bus/batcher.js';
import { type NodeBatch, NodeBatchCodec, type NodeItem } from '../bus/envelope.js';
import type { Subjects } from '../bus/subjects.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import type { PacketCodec } from '../packet/codec.js';
import { ClusterEvent } from '../registry/registry.js';
import type { GateCounters } from './counters.js';
import type { RouteEntry, RouteTable } from './route-table.js';
import type { Session } from './session.js';

/**
 * Routes client data frames to nodes: route table lookup, the legality checks, stateless picks,
 * stateful lookups through the locator, then the raw packet goes into the per-node batch.
 * Stateful lookups are cached per local uid (fed by locator events), so the hot path stays synchronous; on a miss
 * the session's later frames wait in its backlog so per-connection order holds.
 */
export class Dispatcher {
  table: RouteTable;
  readonly #locator: Locator;
  readonly #out: Batcher<NodeItem>;
  readonly #counters: GateCounters;
  readonly #log: Log;
  /** uid → (node name → nid) for uids bound on this gate. */
  readonly #nodeCache = new Map<number, Map<string, string>>();

  readonly #codec: PacketCodec;
  /** Told of every delivery, so the sessions waiting on a node that dies can be told (node-liveness.ts). */
  readonly #onSent: (nid: string, s: Session) => void;

  constructor(
    table: RouteTable,
    locator: Locator,
    out: Batcher<NodeItem>,
    counters: GateCounters,
    log: Log,
    codec: PacketCodec,
    onSent: (nid: string, s: Session) => void = () => {},
  ) {
    this.#codec = codec;
    this.table = table;
    this.#onSent = onSent;
    this.#locator = locator;
    this.#out = out;
    this.#counters = counters;
    this.#log = log;
  }

  /** Forwards one frame (route already read); returns false when it was dropped. */
  dispatch(s: Session, route: number, frame: Uint8Array): boolean {
    if (s.backlog) {
      s.backlog.push(frame.slice());
      return true;
    }
    const e = this.table.routes.get(route);
    const c = this.#counters;
    if (e === undefined) {
      c.drops.unknown_route++;
      return false;
    }
    const info = e.info;
    if (info.internal) {
      c.drops.internal_route++;
      return false;
    }
    if (s.uid === 0 && (info.stateful || info.authorized)) {
      if (info.stateful) c.drops.unbound_stateful++;
      else c.drops.unbound_authorized++;
      return false;
    }
    if (!info.stateful) {
      const inst = e.picker.pick(e.candidates);
      if (inst === undefined) {
        c.drops.no_node++;
        return false;
      }
      this.#deliver(inst.id, s, frame);
      return true;
    }
    const cached = this.#nodeCache.get(s.uid)?.get(e.group);
    if (cached !== undefined) {
      if (this.table.nodes.has(cached)) this.#deliver(cached, s, frame);
      else this.#reroute(s, e, frame, cached);
      return true;
    }
    this.#lookup(s, e, frame.slice());
    return true;
  }

  /**
   * The user's node left the route table (it crashed or deregistered): re-route to a live instance of the same
   * group, picked like a stateless route, and pin the user there (the locator binding moves with it), instead of
   * publishing to a subject nobody reads (due drops these frames silently).
   */
  #reroute(s: Session, e: RouteEntry, frame: Uint8Array, deadNid: string): void {
    const inst = e.picker.pick(e.candidates.filter((i) => i.name === e.group));
    if (inst === undefined) {
      this.#counters.drops.no_node++;
      return;
    }
    this.#counters.rerouted++;
    const uid = s.uid;
    this.#cache(uid, e.group, inst.id);
    // The new node never saw this user bind: a reconnect event (as on a bind) lets it rebuild the user's state.
    if (this.table.events.get(ClusterEvent.RECONNECT)?.includes(inst.id)) {
      this.#out.add(inst.id, { trigger: { event: ClusterEvent.RECONNECT, cid: s.cid, uid } }, 24);
    }
    this.#deliver(inst.id, s, frame);
    this.#log.info('stateful route re-routed from a departed node', {
      uid,
      group: e.group,
      from: deadNid,
      to: inst.id,
    });
    this.#locator
      .bindNode(uid, e.group, inst.id)
      .catch((err: unknown) => this.#log.warn('re-route bind failed', { uid, err: String(err) }));
  }

  #lookup(s: Session, e: RouteEntry, frame: Uint8Array): void {
    s.backlog = [];
    const uid = s.uid;
    const group = e.group;
    this.#locator
      .locateNode(uid, group)
      .then((nid) => {
        if (nid === undefined) this.#counters.drops.not_located++;
        else if (!this.table.nodes.has(nid)) this.#reroute(s, e, frame, nid);
        else {
          if (!s.isClosed && s.uid === uid) this.#cache(uid, group, nid);
          this.#deliver(nid, s, frame);
        }
      })
      .catch((err: unknown) => {
        this.#counters.drops.locator_error++;
        this.#log.warn('stateful route lookup failed', { cid: s.cid, uid, group, err: String(err) });
      })
      .finally(() => this.#drainBacklog(s));
  }

  #drainBacklog(s: Session): void {
    const backlog = s.backlog ?? [];
    s.backlog = undefined;
    for (let i = 0; i < backlog.length; i++) {
      const f = backlog[i] as Uint8Array;
      this.#redispatch(s, f);
      const again = s.backlog as Uint8Array[] | undefined;
      if (again) {
        // Another lookup started: keep the rest behind it, in order.
        again.push(...backlog.slice(i + 1));
        return;
      }
    }
  }

  /** A backlogged frame, checked once on arrival: the session may have ended since, and its route is read again. */
  #redispatch(s: Session, frame: Uint8Array): void {
    const route = this.#codec.routeOf(frame);
    if (!s.isActive || route === undefined) {
      this.#counters.drops.not_active++;
      return;
    }
    this.dispatch(s, route, frame);
  }

  #deliver(nid: string, s: Session, packet: Uint8Array): void {
    this.#counters.forwarded++;
    this.#onSent(nid, s);
    this.#out.add(nid, { deliver: { cid: s.cid, uid: s.uid, packet } }, packet.length + 16);
  }

  /** Fires a cluster event to every node that registered it, in the same per-node stream as deliveries. */
  trigger(event: ClusterEvent, cid: number, uid: number): void {
    const nids = this.table.events.get(event);
    if (!nids) return;
    for (const nid of nids) this.#out.add(nid, { trigger: { event, cid, uid } }, 24);
  }

  cacheNode(uid: number, name: string, nid: string | undefined): void {
    if (nid === undefined) {
      this.#nodeCache.get(uid)?.delete(name);
      return;
    }
    const m = this.#nodeCache.get(uid);
    if (m) m.set(name, nid);
  }

  #cache(uid: number, name: string, nid: string): void {
    let m = this.#nodeCache.get(uid);
    if (!m) {
      m = new Map();
      this.#nodeCache.set(uid, m);
    }
    m.set(name, nid);
  }

  /** The uid left this gate: forget its cached node locations. */
  forget(uid: number): void {
    this.#nodeCache.delete(uid);
  }
}

/** Encodes one node's items as a NodeBatch; a batch of only triggers goes on the event subject. */
export function nodeBatchEncoder(gid: string, subjects: Subjects) {
  return (items: NodeItem[], nid: string): BatchMessage => {
    const batch: NodeBatch = { gid, items };
    const onlyTriggers = items.every((i) => i.trigger !== undefined || i.moved !== undefined);
    return batchMessage(onlyTriggers ? subjects.nodeEvent(nid) : subjects.nodeDeliver(nid), batch, NodeBatchCodec);
  };
}
