import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as wsModule from 'ws';
import { frameBinary, PreparedFrame } from '../../src/network/prepared-frame.js';

/** ws exports its Sender at run time; @types/ws does not declare it. */
type FrameOptions = { opcode: number; fin: boolean; mask: boolean; readOnly: boolean; rsv1: boolean };
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, o: FrameOptions): Buffer[] } };

// The shared bytes must be exactly what ws would put on the wire for one ws.send(payload, { binary: true }).
test('prepared frame - header and payload match ws Sender.frame at every length boundary', () => {
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const payload = Buffer.alloc(n, n % 251);
    const ws = Sender.frame(payload, { opcode: 2, fin: true, mask: false, readOnly: true, rsv1: false });
    assert.deepEqual(frameBinary(payload), Buffer.concat(ws), `length ${n}`);
  }
});

test('prepared frame - framed once, the same buffer for every socket', () => {
  const f = new PreparedFrame(new Uint8Array([1, 2, 3]));
  assert.equal(f.byteLength, 3);
  assert.equal(f.wire, f.wire);
  assert.deepEqual([...f.wire], [0x82, 3, 1, 2, 3]);
});
