import { GateOpsCodec, NodeBatchCodec, SessionKind } from '../bus/envelope.js';
import type { PacketCodec } from '../packet/codec.js';
import type { CaptureEntry } from './capture-records.js';

/**
 * Turns a bus capture (`duet capture`: cluster envelopes) into the client-side view replay works on: each
 * gate → node Deliver becomes the client packet it carried (`in`, its gid and cid), and each node → gate push,
 * multicast or broadcast becomes the packet every addressed session received (`out`). User targets are resolved
 * to connections with the uid each Deliver and Bind names. What no envelope shows (heartbeats, pushes to channels,
 * node-to-node deliveries) is left out. Envelopes that do not decode are skipped.
 */
export function packetsFromEnvelopes(entries: readonly CaptureEntry[], codec: PacketCodec): CaptureEntry[] {
  const out: CaptureEntry[] = [];
  /** gid → uid → cid, the latest session known to hold the user. */
  const users = new Map<string, Map<number, number>>();
  /** gid → cids seen, for broadcasts. */
  const conns = new Map<string, Set<number>>();
  const see = (gid: string, cid: number, uid: number): void => {
    const cs = conns.get(gid) ?? new Set<number>();
    conns.set(gid, cs);
    cs.add(cid);
    if (uid === 0) return;
    const us = users.get(gid) ?? new Map<number, number>();
    users.set(gid, us);
    us.set(uid, cid);
  };
  const emit = (e: CaptureEntry, direction: 'in' | 'out', gid: string, cid: number, uid: number, data: Uint8Array) =>
    out.push({ ...e, direction, gid, cid, uid, kind: 'packet', data, subject: '' });
  // A connection target needs no earlier sighting: an answer may cross the bus ahead of the request it answers.
  const target = (gid: string, kind: number, id: number): number | undefined =>
    kind === SessionKind.USER ? users.get(gid)?.get(id) : id;

  for (const e of entries) {
    if (e.kind !== 'envelope') continue;
    if (e.direction === 'in') {
      let batch: ReturnType<typeof NodeBatchCodec.decode>;
      try {
        batch = NodeBatchCodec.decode(e.data);
      } catch {
        continue;
      }
      if (!batch.gid) continue; // node-to-node: no client behind it
      for (const item of batch.items) {
        if (!item.deliver) continue;
        const d = item.deliver;
        see(batch.gid, d.cid, d.uid);
        emit(e, 'in', batch.gid, d.cid, d.uid, d.packet);
      }
      continue;
    }
    let ops: ReturnType<typeof GateOpsCodec.decode>;
    try {
      ops = GateOpsCodec.decode(e.data);
    } catch {
      continue;
    }
    // {p}.gate.{gid}.op names its gate; {p}.gates.op goes to every gate seen so far.
    const gids = e.gid ? [e.gid] : [...conns.keys()];
    for (const op of ops.ops) {
      for (const gid of gids) {
        if (op.bind) see(gid, op.bind.cid, op.bind.uid);
        const p = op.push;
        if (p) {
          const cid = target(gid, p.kind, p.target);
          if (cid !== undefined) emit(e, 'out', gid, cid, p.kind === SessionKind.USER ? p.target : 0, p.packet);
        }
        const m = op.multicast;
        if (m) {
          for (const id of m.targets) {
            const cid = target(gid, m.kind, id);
            if (cid !== undefined) emit(e, 'out', gid, cid, m.kind === SessionKind.USER ? id : 0, m.packet);
          }
        }
        const b = op.broadcast;
        if (b) {
          const cids =
            b.kind === SessionKind.USER ? [...(users.get(gid)?.values() ?? [])] : [...(conns.get(gid) ?? [])];
          for (const cid of cids) emit(e, 'out', gid, cid, 0, b.packet);
        }
      }
    }
  }
  return answersAfterRequests(out, codec);
}

/**
 * Envelopes from different publishers reach a recorder by different routes, so a node's answer can be recorded
 * before the gate's delivery of the request. Each response (seq ≠ 0) is moved after the request with its route
 * and seq on its connection; counts, not a set, because seqs wrap and repeat.
 */
function answersAfterRequests(packets: CaptureEntry[], codec: PacketCodec): CaptureEntry[] {
  const out: CaptureEntry[] = [];
  const requests = new Map<string, number>();
  const answers = new Map<string, number>();
  const held = new Map<string, CaptureEntry[]>();
  const keyOf = (e: CaptureEntry): string | undefined => {
    const r = codec.decode(e.data);
    if (!r.ok || r.packet.kind !== 'data' || r.packet.seq === 0) return undefined;
    return `${e.gid}/${e.cid}/${r.packet.route}/${r.packet.seq}`;
  };
  for (const e of packets) {
    const key = keyOf(e);
    if (key === undefined) {
      out.push(e);
      continue;
    }
    if (e.direction === 'in') {
      out.push(e);
      requests.set(key, (requests.get(key) ?? 0) + 1);
      const waiting = held.get(key);
      const next = waiting?.shift();
      if (next) {
        out.push(next);
        answers.set(key, (answers.get(key) ?? 0) + 1);
      }
      continue;
    }
    if ((answers.get(key) ?? 0) < (requests.get(key) ?? 0)) {
      out.push(e);
      answers.set(key, (answers.get(key) ?? 0) + 1);
    } else held.set(key, [...(held.get(key) ?? []), e]);
  }
  // Answers whose request never showed up (recording started mid-flight) go last, in their own order.
  for (const rest of held.values()) out.push(...rest);
  return out;
}
