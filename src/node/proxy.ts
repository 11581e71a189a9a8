import type { Batcher } from '../bus/batcher.js';
import { type GateOpBody, type NodeItem, SessionKind } from '../bus/envelope.js';
import { DuetError, ErrorCode } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import { checkUid } from '../locate/uid.js';
import type { PacketCodec } from '../packet/codec.js';
import type { Registry, ServiceInstance, ServiceState } from '../registry/registry.js';
import { type BodyCodec, toBody } from './body-codec.js';
import { checkResult, type GateLink } from './gate-link.js';
import type { NodeRuntime } from './runtime.js';

export { SessionKind };

/** How long a Moved overrides the locator (its own event arrives long before). */
const MOVED_TTL_MS = 10_000;
export type Kind = SessionKind;

export interface MessageArgs {
  route: number;
  /** Raw bytes, a string, or a value for the node's codec. */
  body?: unknown;
  seq?: number;
}
export interface TargetArgs extends MessageArgs {
  kind: Kind;
  target: number;
  /** Required for kind Conn; for kind User the gate is found through the locator. */
  gid?: string;
  ack?: boolean;
  disconnect?: boolean;
}

export interface ProxyDeps {
  nid: string;
  name: string;
  link: GateLink;
  locator: Locator;
  registry: Registry;
  codec: PacketCodec;
  body: BodyCodec;
  nodeOut: Batcher<NodeItem>;
  runtime: NodeRuntime;
}

/**
 * Cluster-wide operations for node code (due node.Proxy): push, multicast, broadcast, channels, kick, presence and
 * location lookups. Pushes are fire and forget unless `ack` is set, then they resolve with delivered counts.
 */
export class ClusterProxy {
  readonly #d: ProxyDeps;
  /** Users a gate told us moved (resume handover), ahead of the locator's own event. */
  readonly #moved = new Map<number, { gid: string; until: number }>();
  constructor(d: ProxyDeps) {
    this.#d = d;
  }

  /** Actors, services and tasks of this node. */
  get runtime(): NodeRuntime {
    return this.#d.runtime;
  }

  /** Encodes a client packet with this node's packet settings. */
  pack(m: MessageArgs): Uint8Array {
    return this.#d.codec.encode({ route: m.route, seq: m.seq ?? 0, body: toBody(this.#d.body, m.body) });
  }

  /** Gate `gid` now holds user `uid` (a Moved from its old gate). */
  moved(uid: number, gid: string): void {
    this.#moved.set(uid, { gid, until: Date.now() + MOVED_TTL_MS });
    if (this.#moved.size > 10_000) {
      const now = Date.now();
      for (const [k, m] of this.#moved) if (m.until <= now) this.#moved.delete(k);
    }
  }

  async #gateOf(kind: Kind, target: number, gid?: string): Promise<string> {
    if (gid) return gid;
    if (kind === SessionKind.USER) {
      const m = this.#moved.get(target);
      if (m && m.until > Date.now()) return m.gid;
    }
    if (kind === SessionKind.CONN)
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, 'kind Conn needs the gate id (gid)');
    const located = await this.#d.locator.locateGate(checkUid(target));
    if (!located) throw new DuetError(ErrorCode.SESSION_NOT_FOUND, `user ${target} is not bound to any gate`);
    return located;
  }

  /** Fire-and-forget push to one connection of a known gate, without a promise (responses use it). */
  pushToConn(gid: string, cid: number, m: MessageArgs, disconnect = false): void {
    const packet = this.pack(m);
    this.#d.link.send(gid, { push: { kind: SessionKind.CONN, target: cid, packet, disconnect } });
  }

  /** One message to one session. With ack: resolves 1, or rejects SESSION_NOT_FOUND. */
  async push(a: TargetArgs): Promise<number> {
    const packet = this.pack(a);
    const gid = await this.#gateOf(a.kind, a.target, a.gid);
    const op: GateOpBody = { push: { kind: a.kind, target: a.target, packet, disconnect: a.disconnect ?? false } };
    if (!a.ack) {
      this.#d.link.send(gid, op);
      return 0;
    }
    return checkResult(await this.#d.link.call(gid, op), 'push').total;
  }

  /** One message to many sessions; kind User targets are grouped by their gates. Resolves the delivered count with ack. */
  async multicast(a: Omit<TargetArgs, 'target'> & { targets: number[] }): Promise<number> {
    const packet = this.pack(a);
    const byGate = new Map<string, number[]>();
    if (a.kind === SessionKind.CONN) byGate.set(await this.#gateOf(a.kind, 0, a.gid), a.targets);
    else {
      // Looked up together: one after the other, N uncached users would cost N round trips before the first send.
      const gids = a.gid ? undefined : await Promise.all(a.targets.map((u) => this.#d.locator.locateGate(checkUid(u))));
      for (const [i, uid] of a.targets.entries()) {
        const gid = a.gid ?? gids?.[i];
        if (!gid) continue;
        const list = byGate.get(gid) ?? [];
        list.push(uid);
        byGate.set(gid, list);
      }
    }
    const calls: Promise<number>[] = [];
    for (const [gid, targets] of byGate) {
      const op: GateOpBody = { multicast: { kind: a.kind, targets, packet, disconnect: a.disconnect ?? false } };
      if (a.ack) calls.push(this.#d.link.call(gid, op).then((r) => checkResult(r, 'multicast').total));
      else this.#d.link.send(gid, op);
    }
    return (await Promise.all(calls)).reduce((x, y) => x + y, 0);
  }

  async #eachGate(op: GateOpBody, ack: boolean | undefined, what: string): Promise<number> {
    if (!ack) {
      this.#d.link.send('*', op);
      return 0;
    }
    const gates = await this.fetchGateList();
    const totals = await Promise.all(
      gates.map((g) => this.#d.link.call(g.id, op).then((r) => checkResult(r, what).total)),
    );
    return totals.reduce((x, y) => x + y, 0);
  }

  /** Every session (Conn) or every bound session (User) on every gate. */
  broadcast(a: MessageArgs & { kind: Kind; ack?: boolean; disconnect?: boolean }): Promise<number> {
    const packet = this.pack(a);
    return this.#eachGate(
      { broadcast: { kind: a.kind, packet, disconnect: a.disconnect ?? false } },
      a.ack,
      'broadcast',
    );
  }

  /** Every session subscribed to `channel`, on every gate. */
  publish(a: MessageArgs & { channel: string; ack?: boolean; disconnect?: boolean }): Promise<number> {
    const packet = this.pack(a);
    return this.#eachGate(
      { publish: { channel: a.channel, packet, disconnect: a.disconnect ?? false } },
      a.ack,
      'publish',
    );
  }

  async subscribe(a: { kind: Kind; targets: number[]; channel: string; gid?: string }): Promise<number> {
    return this.#channelOp('subscribe', a);
  }

  async unsubscribe(a: { kind: Kind; targets: number[]; channel: string; gid?: string }): Promise<number> {
    return this.#channelOp('unsubscribe', a);
  }

  async #channelOp(
    which: 'subscribe' | 'unsubscribe',
    a: { kind: Kind; targets: number[]; channel: string; gid?: string },
  ) {
    let total = 0;
    for (const t of a.targets) {
      const gid = await this.#gateOf(a.kind, t, a.gid);
      const body = { kind: a.kind, targets: [t], channel: a.channel };
      const op: GateOpBody = which === 'subscribe' ? { subscribe: body } : { unsubscribe: body };
      total += checkResult(await this.#d.link.call(gid, op), which).total;
    }
    return total;
  }

  /** Kick: graceful (flush, close frame) unless `force`. Rejects SESSION_NOT_FOUND when no such session. */
  async disconnect(a: { kind: Kind; target: number; gid?: string; force?: boolean }): Promise<void> {
    const gid = await this.#gateOf(a.kind, a.target, a.gid);
    checkResult(
      await this.#d.link.call(gid, { disconnect: { kind: a.kind, target: a.target, force: a.force ?? false } }),
      'disconnect',
    );
  }

  async isOnline(a: { kind: Kind; target: number; gid?: string }): Promise<boolean> {
    let gid: string;
    try {
      gid = await this.#gateOf(a.kind, a.target, a.gid);
    } catch (err) {
      if ((err as DuetError).code === ErrorCode.SESSION_NOT_FOUND) return false;
      throw err;
    }
    return checkResult(await this.#d.link.call(gid, { isOnline: { kind: a.kind, target: a.target } }), 'isOnline')
      .online;
  }

  /** Sessions (Conn) or bound users (User) over every gate. */
  async stat(kind: Kind): Promise<number> {
    return this.#eachGate({ stat: { kind } }, true, 'stat');
  }

  async getIP(a: { kind: Kind; target: number; gid?: string }): Promise<string> {
    const gid = await this.#gateOf(a.kind, a.target, a.gid);
    return checkResult(await this.#d.link.call(gid, { getIp: { kind: a.kind, target: a.target } }), 'getIP').ip;
  }

  locateGate(uid: number): Promise<string | undefined> {
    return this.#d.locator.locateGate(checkUid(uid));
  }

  locateNode(uid: number, name = this.#d.name): Promise<string | undefined> {
    return this.#d.locator.locateNode(checkUid(uid), name);
  }

  /** Every node name → node id the user is bound to (due LocateNodes). */
  locateNodes(uid: number): Promise<Record<string, string>> {
    return this.#d.locator.locateNodes(checkUid(uid));
  }

  /** True when `uid` is bound to gate `gid` (due AskGate). */
  async askGate(uid: number, gid: string): Promise<boolean> {
    return (await this.locateGate(uid)) === gid;
  }

  /** True when `uid` is bound to node `nid` in group `name` (due AskNode). */
  async askNode(uid: number, name: string, nid: string): Promise<boolean> {
    return (await this.locateNode(uid, name)) === nid;
  }

  /** Gates in the registry; with `states`, only those in one of them (due FetchGateList). */
  async fetchGateList(...states: ServiceState[]): Promise<ServiceInstance[]> {
    const all = await this.#d.registry.services('gate');
    return states.length === 0 ? all : all.filter((g) => states.includes(g.state));
  }

  async fetchNodeList(...states: ServiceState[]): Promise<ServiceInstance[]> {
    const all = await this.#d.registry.services('node');
    return states.length === 0 ? all : all.filter((n) => states.includes(n.state));
  }

  /** True when the registry lists gate `gid` (due HasGate). */
  async hasGate(gid: string): Promise<boolean> {
    return (await this.fetchGateList()).some((g) => g.id === gid);
  }

  async hasNode(nid: string): Promise<boolean> {
    return (await this.fetchNodeList()).some((n) => n.id === nid);
  }

  /** Binds a session on its gate to uid (acked; the gate closes any session that held the uid before). */
  async bindGate(gid: string, cid: number, uid: number): Promise<void> {
    checkResult(await this.#d.link.call(gid, { bind: { cid, uid: checkUid(uid) } }), 'bindGate');
  }

  async unbindGate(uid: number, gid?: string): Promise<void> {
    const g = await this.#gateOf(SessionKind.USER, uid, gid);
    checkResult(await this.#d.link.call(g, { unbind: { uid, cid: 0 } }), 'unbindGate');
  }

  bindNode(uid: number, name = this.#d.name, nid = this.#d.nid): Promise<void> {
    return this.#d.locator.bindNode(checkUid(uid), name, nid);
  }

  unbindNode(uid: number, name = this.#d.name, nid = this.#d.nid): Promise<void> {
    return this.#d.locator.unbindNode(checkUid(uid), name, nid);
  }

  /** Node to node: the message reaches `nid`'s handlers for `route` as if a client sent it (with gid/cid/uid kept). */
  /**
   * Delivers to the node user `a.uid` is bound to in group `a.name` (this node's name by default), found through
   * the locator: no node id needed. Resolves with that node's id; rejects SESSION_NOT_FOUND when unbound.
   */
  async deliverToUser(a: MessageArgs & { uid: number; name?: string; cid?: number }): Promise<string> {
    const name = a.name ?? this.#d.name;
    const nid = await this.locateNode(a.uid, name);
    if (!nid) throw new DuetError(ErrorCode.SESSION_NOT_FOUND, `user ${a.uid} is bound to no ${name} node`);
    this.deliver({ ...a, nid });
    return nid;
  }

  deliver(a: MessageArgs & { nid: string; uid?: number; cid?: number }): void {
    const packet = this.pack(a);
    this.#d.nodeOut.add(
      a.nid,
      { deliver: { cid: a.cid ?? 0, uid: a.uid ?? 0, packet, nid: this.#d.nid } },
      packet.length + 16,
    );
  }
}
