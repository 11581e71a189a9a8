import { type GateOp, type GateOps, GateOpsCodec, SessionKind } from '../bus/envelope.js';
import type { PacketCodec } from '../packet/codec.js';
import { previewBytes } from './replay-diff.js';

/**
 * The operations a node sends to gates, in a shape a test can compare and read: a response or push carries the
 * client packet's route, seq and body; binds, unbinds and kicks their session. Result ids, signatures and the
 * reply subject are left out: they differ from run to run without the behaviour differing.
 */
export type NodeOpType =
  | 'response'
  | 'push'
  | 'multicast'
  | 'broadcast'
  | 'publish'
  | 'bind'
  | 'unbind'
  | 'kick'
  | 'subscribe'
  | 'unsubscribe'
  | 'query';

export interface NodeOp {
  type: NodeOpType;
  /** The gate the op went to ('*' = every gate). */
  gid: string;
  /** Who it addresses, e.g. `cid 3`, `uid 1001`, `uids 1,2`, `channel room-a`, `all users`. */
  target: string;
  /** The client packet's route and seq (responses and pushes); undefined for session ops. */
  route?: number;
  seq?: number;
  body?: Uint8Array;
  /** Anything else that changes the effect: `disconnect`, `force`, `displaced`, a query's name. */
  flags: string;
}

const who = (kind: number, id: number): string => `${kind === SessionKind.USER ? 'uid' : 'cid'} ${id}`;
const many = (kind: number, ids: readonly number[]): string =>
  `${kind === SessionKind.USER ? 'uids' : 'cids'} ${ids.join(',')}`;

/** The ops of one GateOps envelope sent to `gid` ('*' for the all-gates subject), in order. */
export function nodeOpsOf(ops: GateOps, gid: string, codec: PacketCodec): NodeOp[] {
  return ops.ops.map((op) => nodeOp(op, gid, codec));
}

function nodeOp(op: GateOp, gid: string, codec: PacketCodec): NodeOp {
  const packet = (type: NodeOpType, target: string, bytes: Uint8Array, disconnect: boolean): NodeOp => {
    const r = codec.decode(bytes);
    const flags = disconnect ? 'disconnect' : '';
    if (!r.ok || r.packet.kind !== 'data') return { type, gid, target, body: new Uint8Array(bytes), flags };
    const p = r.packet;
    const t = type === 'push' && p.seq !== 0 ? 'response' : type;
    return { type: t, gid, target, route: p.route, seq: p.seq, body: new Uint8Array(p.body), flags };
  };
  if (op.push) return packet('push', who(op.push.kind, op.push.target), op.push.packet, op.push.disconnect);
  if (op.multicast) {
    const m = op.multicast;
    return packet('multicast', many(m.kind, m.targets), m.packet, m.disconnect);
  }
  if (op.broadcast) {
    const b = op.broadcast;
    return packet('broadcast', b.kind === SessionKind.USER ? 'all users' : 'all connections', b.packet, b.disconnect);
  }
  if (op.publish) return packet('publish', `channel ${op.publish.channel}`, op.publish.packet, op.publish.disconnect);
  if (op.bind) return { type: 'bind', gid, target: `cid ${op.bind.cid} uid ${op.bind.uid}`, flags: '' };
  if (op.unbind) return { type: 'unbind', gid, target: `cid ${op.unbind.cid} uid ${op.unbind.uid}`, flags: '' };
  if (op.disconnect) {
    const d = op.disconnect;
    const flags = [d.force ? 'force' : '', d.displaced ? 'displaced' : ''].filter(Boolean).join(' ');
    return { type: 'kick', gid, target: who(d.kind, d.target), flags };
  }
  if (op.subscribe) {
    const s = op.subscribe;
    return { type: 'subscribe', gid, target: `${many(s.kind, s.targets)} to ${s.channel}`, flags: '' };
  }
  if (op.unsubscribe) {
    const s = op.unsubscribe;
    return { type: 'unsubscribe', gid, target: `${many(s.kind, s.targets)} from ${s.channel}`, flags: '' };
  }
  if (op.isOnline) return { type: 'query', gid, target: who(op.isOnline.kind, op.isOnline.target), flags: 'isOnline' };
  if (op.getIp) return { type: 'query', gid, target: who(op.getIp.kind, op.getIp.target), flags: 'getIp' };
  if (op.stat)
    return { type: 'query', gid, target: op.stat.kind === SessionKind.USER ? 'users' : 'conns', flags: 'stat' };
  if (op.fence) return { type: 'query', gid, target: `uid ${op.fence.uid}`, flags: 'fence' };
  return { type: 'query', gid, target: '', flags: 'unknown' };
}

/** Decodes a recorded node → gate envelope; undefined when it does not decode (a capture keeps such bytes). */
export function decodeGateOps(data: Uint8Array): GateOps | undefined {
  try {
    return GateOpsCodec.decode(data);
  } catch {
    return undefined;
  }
}

/** One difference between the ops a capture recorded and the ops the node under test produced. */
export interface NodeReplayDiff {
  /** The gate both lists went to. */
  gid: string;
  /** Position in that gate's recorded ops (or, for an extra op, the produced ones). */
  index: number;
  /** The route and seq of the op that differs (from whichever side has it); undefined for session ops. */
  route: number | undefined;
  seq: number | undefined;
  /** `missing`: recorded, not produced; `unexpected`: produced, not recorded; `changed`: both, unequal. */
  kind: 'missing' | 'unexpected' | 'changed';
  expected: NodeOp | undefined;
  actual: NodeOp | undefined;
  /** One line for a person, e.g. `gate-1 op #3 response route 1 seq 5 to cid 1: body differs from byte 0`. */
  message: string;
}

const keyOf = (o: NodeOp): string => `${o.type}|${o.target}|${o.route ?? ''}|${o.seq ?? ''}`;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const opEqual = (a: NodeOp, b: NodeOp): boolean =>
  keyOf(a) === keyOf(b) && a.flags === b.flags && sameBytes(a.body, b.body);

/** How far ahead alignment looks for an op's key: one missing op is reported alone, not as a shift of the rest. */
const WINDOW = 256;

function ahead(list: readonly NodeOp[], from: number, o: NodeOp): boolean {
  const k = keyOf(o);
  for (let i = from; i < list.length && i < from + WINDOW; i++) if (keyOf(list[i] as NodeOp) === k) return true;
  return false;
}

function exactAhead(list: readonly NodeOp[], from: number, o: NodeOp): boolean {
  for (let i = from; i < list.length && i < from + WINDOW; i++) if (opEqual(list[i] as NodeOp, o)) return true;
  return false;
}

export function describeNodeOp(o: NodeOp): string {
  const rs = o.route === undefined ? '' : ` route ${o.route} seq ${o.seq}`;
  const flags = o.flags ? ` [${o.flags}]` : '';
  const body = o.body === undefined ? '' : ` body ${previewBytes(o.body)}`;
  return `${o.type}${rs} to ${o.target}${flags}${body}`;
}

function diff(kind: NodeReplayDiff['kind'], gid: string, index: number, e?: NodeOp, a?: NodeOp): NodeReplayDiff {
  const o = (e ?? a) as NodeOp;
  let why: string = kind;
  if (e && a) {
    const parts: string[] = [];
    if (e.flags !== a.flags) parts.push(`flags "${e.flags}" ≠ "${a.flags}"`);
    if (!sameBytes(e.body, b(a)))
      parts.push(`body ${previewBytes(e.body ?? new Uint8Array())} ≠ ${previewBytes(b(a))}`);
    why = parts.join(', ');
  }
  const rs = o.route === undefined ? '' : ` route ${o.route} seq ${o.seq}`;
  const message = `gate ${gid} op #${index}: ${o.type}${rs} to ${o.target}: ${why}`;
  return { gid, index, route: o.route, seq: o.seq, kind, expected: e, actual: a, message };
}
const b = (o: NodeOp): Uint8Array => o.body ?? new Uint8Array();

/** The differences between one gate's recorded and produced ops, paired in order by type, target, route and seq. */
export function compareNodeOps(gid: string, expected: readonly NodeOp[], actual: readonly NodeOp[]): NodeReplayDiff[] {
  const out: NodeReplayDiff[] = [];
  let i = 0;
  let j = 0;
  while (i < expected.length || j < actual.length) {
    const e = expected[i];
    const a = actual[j];
    if (!e) {
      out.push(diff('unexpected', gid, j++, undefined, a));
      continue;
    }
    if (!a) {
      out.push(diff('missing', gid, i++, e, undefined));
      continue;
    }
    if (keyOf(e) !== keyOf(a)) {
      if (!ahead(actual, j + 1, e)) {
        out.push(diff('missing', gid, i++, e, undefined));
        continue;
      }
      if (!ahead(expected, i + 1, a)) {
        out.push(diff('unexpected', gid, j++, undefined, a));
        continue;
      }
    }
    if (!opEqual(e, a)) {
      // Same key, different body: pushes to one channel share a key, so look for an exact match ahead first (one
      // missing chat line is reported missing, not as every later line changed).
      if (exactAhead(actual, j + 1, e)) {
        out.push(diff('unexpected', gid, j++, undefined, a));
        continue;
      }
      if (exactAhead(expected, i + 1, a)) {
        out.push(diff('missing', gid, i++, e, undefined));
        continue;
      }
      out.push(diff('changed', gid, i, e, a));
    }
    i++;
    j++;
  }
  return out;
}
