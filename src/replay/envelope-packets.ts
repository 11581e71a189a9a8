import { GateOpsCodec, NodeBatchCodec, SessionKind } from '../bus/envelope.js';
import type { CaptureEntry } from './capture-records.js';

/**
 * Turns a bus capture (`duet capture`: cluster envelopes) into the client-side view replay works on: each
 * gate → node Deliver becomes the client packet it carried (`in`, its gid and cid), and each node → gate push,
 * multicast or broadcast becomes the packet every addressed session received (`out`). User targets are resolved
 * to connections with the uid each Deliver and Bind names. What no envelope shows (heartbeats, pushes to channels,
 * node-to-node deliveries) is left out. Envelopes that do not decode are skipped.
 */
export function packetsFromEnvelopes(entries: readonly CaptureEntry[]): CaptureEntry[] {
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
  const target = (gid: string, kind: number, id: number): number | undefined =>
    kind === SessionKind.USER ? users.get(gid)?.get(id) : conns.get(gid)?.has(id) ? id : undefined;

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
  return out;
}
