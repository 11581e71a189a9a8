import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type GateOps, GateOpsCodec, SessionKind } from '../../src/bus/envelope.js';
import { OpSigner } from '../../src/bus/op-signature.js';
import { ConfigError } from '../../src/errors.js';

const SECRET = 's'.repeat(32);
const kick: GateOps = {
  nid: 'node-1',
  reply: 'duet.reply.node-1',
  ops: [{ id: 7, disconnect: { kind: SessionKind.USER, target: 42, force: true } }],
};
const push: GateOps = {
  nid: 'node-1',
  reply: '',
  ops: [{ id: 0, push: { kind: SessionKind.USER, target: 42, packet: new Uint8Array([1, 2]), disconnect: false } }],
};

test('op signature - a signed control envelope decodes as usual and verifies', () => {
  const s = new OpSigner(SECRET);
  const data = s.encode(kick, 1_000_000);
  const back = GateOpsCodec.decode(data);
  assert.equal(back.ops[0]?.disconnect?.target, 42);
  assert.equal(back.signedAt, 1_000_000);
  assert.equal(s.verify(data, back, 1_000_500), true);
});

test('op signature - unsigned, tampered, foreign-key and stale control envelopes are refused; pushes need none', () => {
  const s = new OpSigner(SECRET);
  const unsigned = GateOpsCodec.encode(kick);
  assert.equal(s.verify(unsigned, GateOpsCodec.decode(unsigned), 1_000_000), false);
  const signed = s.encode(kick, 1_000_000);
  const tampered = signed.slice();
  tampered[5] = (tampered[5] ?? 0) ^ 1;
  assert.equal(s.verify(tampered, GateOpsCodec.decode(tampered), 1_000_000), false);
  const foreign = new OpSigner('t'.repeat(32)).encode(kick, 1_000_000);
  assert.equal(s.verify(foreign, GateOpsCodec.decode(foreign), 1_000_000), false);
  assert.equal(s.verify(signed, GateOpsCodec.decode(signed), 1_000_000 + 61_000), false, 'older than the skew');
  // A signature lifted from one envelope does not cover another.
  const other = GateOpsCodec.encode({ ...kick, ops: [{ id: 0, bind: { cid: 1, uid: 9 } }] });
  const grafted = new Uint8Array([...other, ...signed.subarray(signed.length - 34)]);
  assert.equal(s.verify(grafted, GateOpsCodec.decode(grafted), 1_000_000), false);
  const plain = s.encode(push);
  assert.deepEqual(plain, GateOpsCodec.encode(push), 'pushes go out unsigned');
  assert.equal(s.verify(plain, GateOpsCodec.decode(plain)), true);
});

test('op signature - a secret under 32 bytes is a config error that does not print it', () => {
  assert.throws(
    () => new OpSigner('short-secret'),
    (err: unknown) => err instanceof ConfigError && err.path === 'bus.opsSecret' && !err.message.includes('short'),
  );
});
