import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type GateOpBody, GateOpsCodec, NodeBatchCodec, SessionKind } from '../../src/bus/envelope.js';
import { PacketCodec } from '../../src/packet/codec.js';
import type { CaptureEntry } from '../../src/replay/capture-records.js';
import { packetsFromEnvelopes } from '../../src/replay/envelope-packets.js';

/** A bus capture seen from the clients: deliveries in, pushes out, answers after their requests. */

const codec = new PacketCodec();
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const pkt = (route: number, seq: number, body: string): Uint8Array => codec.encode({ route, seq, body: enc(body) });
let t = 0;
const envelope = (direction: 'in' | 'out', gid: string, data: Uint8Array): CaptureEntry => ({
  tsMs: 0,
  monoNs: ++t,
  direction,
  gid: direction === 'out' ? gid : '',
  nid: 'n1',
  cid: 0,
  uid: 0,
  kind: 'envelope',
  data,
  subject: direction === 'in' ? 'duet.node.n1.deliver' : `duet.gate.${gid}.op`,
});
const deliver = (gid: string, cid: number, uid: number, packet: Uint8Array): CaptureEntry =>
  envelope('in', '', NodeBatchCodec.encode({ gid, items: [{ deliver: { cid, uid, packet } }] }));
const ops = (gid: string, ...bodies: GateOpBody[]): CaptureEntry =>
  envelope('out', gid, GateOpsCodec.encode({ nid: 'n1', reply: '', ops: bodies.map((b) => ({ id: 0, ...b })) }));
const view = (es: CaptureEntry[]): string[] =>
  es.map((e) => {
    const r = codec.decode(e.data);
    const p = r.ok && r.packet.kind === 'data' ? `${r.packet.route}/${r.packet.seq}` : '?';
    return `${e.direction} ${e.gid}/${e.cid} ${p}`;
  });

test('envelope packets - an answer recorded before its request is moved after it', () => {
  const out = packetsFromEnvelopes(
    [
      ops('g1', { push: { kind: SessionKind.CONN, target: 3, packet: pkt(1, 1, 'a'), disconnect: false } }),
      deliver('g1', 3, 0, pkt(1, 1, 'a')),
      deliver('g1', 3, 0, pkt(1, 2, 'b')),
      ops('g1', { push: { kind: SessionKind.CONN, target: 3, packet: pkt(1, 2, 'b'), disconnect: false } }),
    ],
    codec,
  );
  assert.deepEqual(view(out), ['in g1/3 1/1', 'out g1/3 1/1', 'in g1/3 1/2', 'out g1/3 1/2']);
  assert.ok(out.every((e) => e.kind === 'packet' && e.subject === ''));
});

test('envelope packets - user pushes, multicasts and broadcasts reach the sessions that hold the users', () => {
  const out = packetsFromEnvelopes(
    [
      deliver('g1', 1, 0, pkt(2, 1, '10')),
      ops(
        'g1',
        { bind: { cid: 1, uid: 10 } },
        { push: { kind: SessionKind.CONN, target: 1, packet: pkt(2, 1, '10'), disconnect: false } },
      ),
      deliver('g1', 2, 20, pkt(1, 1, 'x')),
      ops('g1', { push: { kind: SessionKind.USER, target: 10, packet: pkt(9, 0, 'to 10'), disconnect: false } }),
      ops('g1', {
        multicast: { kind: SessionKind.USER, targets: [10, 20, 30], packet: pkt(9, 0, 'm'), disconnect: false },
      }),
      envelope(
        'out',
        '',
        GateOpsCodec.encode({
          nid: 'n1',
          reply: '',
          ops: [{ id: 0, broadcast: { kind: SessionKind.CONN, packet: pkt(8, 0, 'all'), disconnect: false } }],
        }),
      ),
      // An answer whose request was never recorded goes last.
      ops('g1', { push: { kind: SessionKind.CONN, target: 7, packet: pkt(1, 5, 'late'), disconnect: false } }),
      // Node-to-node deliveries have no client behind them; garbage is skipped.
      deliver('', 4, 0, pkt(1, 1, 'n2n')),
      envelope('in', '', new Uint8Array([0xff, 0xff])),
    ],
    codec,
  );
  assert.deepEqual(view(out), [
    'in g1/1 2/1',
    'out g1/1 2/1',
    'in g1/2 1/1',
    'out g1/1 9/0',
    'out g1/1 9/0',
    'out g1/2 9/0',
    'out g1/1 8/0',
    'out g1/2 8/0',
    'out g1/7 1/5',
  ]);
});
