// The envelopes' int64 fields decode to numbers through envelope.ts's own reader (the generated code would return
// Long objects): every width of varint, negatives in two's complement, and unset fields read 0.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GateOpsCodec, NodeBatchCodec, TakeoverCodec, TakeoverReplyCodec } from '../../src/bus/envelope.js';
import { DuetError, ErrorCode } from '../../src/errors.js';

const VALUES = [0, 1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32];
VALUES.push(2 ** 32 + 5, 2 ** 35 + 1, 2 ** 42 + 3, 2 ** 49 + 9, Number.MAX_SAFE_INTEGER);
const NEGATIVES = [-1, -5, -128, -(2 ** 31), -(2 ** 32) - 1, -(2 ** 40) - 7, Number.MIN_SAFE_INTEGER];

test('envelope int64 - int64 and uint64 fields round-trip as numbers at every varint width', () => {
  for (const v of VALUES) {
    const ops = GateOpsCodec.decode(
      GateOpsCodec.encode({ nid: 'n', reply: 'r', ops: [{ id: v, disconnect: { kind: 2, target: v, force: true } }] }),
    );
    assert.equal(ops.ops[0]?.id, v);
    assert.equal(ops.ops[0]?.disconnect?.target, v);
    assert.equal(typeof ops.ops[0]?.disconnect?.target, 'number');
  }
});

test('envelope int64 - negative int64 values decode exactly (ten-byte varints)', () => {
  for (const v of NEGATIVES) {
    const bytes = GateOpsCodec.encode({ nid: 'n', reply: 'r', ops: [{ id: 1, push: push(v) }] });
    assert.equal(GateOpsCodec.decode(bytes).ops[0]?.push?.target, v);
  }
});

test('envelope int64 - unset int64 fields read 0, not a Long', () => {
  const batch = NodeBatchCodec.decode(
    NodeBatchCodec.encode({ gid: 'g', items: [{ trigger: { event: 1, cid: 0, uid: 0 } }] }),
  );
  assert.equal(batch.items[0]?.trigger?.cid, 0);
  assert.equal(batch.items[0]?.trigger?.uid, 0);
  const reply = TakeoverReplyCodec.decode(new Uint8Array(0));
  assert.equal(reply.pushed, 0);
  assert.deepEqual([reply.ok, reply.error, reply.packets.length, reply.nodes.length], [false, '', 0, 0]);
});

test('envelope int64 - a truncated or overlong int64 varint is an envelope decode error', () => {
  // Takeover field 1 (cid, int64, wire type 0): a varint whose bytes all say "more follows".
  for (const bytes of [
    [0x08, 0x80, 0x80],
    [0x08, ...new Array(11).fill(0xff)],
  ]) {
    assert.throws(
      () => TakeoverCodec.decode(new Uint8Array(bytes)),
      (err: unknown) => err instanceof DuetError && err.code === ErrorCode.ENVELOPE_DECODE,
    );
  }
});

function push(target: number) {
  return { kind: 2, target, packet: new Uint8Array([1, 2]), disconnect: false };
}
