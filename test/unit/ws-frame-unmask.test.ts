// The reader's in-place unmasking (src/network/ws-frame-reader.ts) against the RFC 6455 5.3 definition, at every
// alignment and across the length where it switches from a byte loop to 32-bit words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unmaskInPlace } from '../../src/network/ws-frame-reader.js';

function reference(payload: Uint8Array, mask: readonly number[]): Uint8Array {
  return payload.map((b, i) => b ^ (mask[i % 4] as number));
}

test('unmaskInPlace - matches the byte-wise definition at every offset and length up to 160 (byte loop and words)', () => {
  const mask = [0x9c, 0x01, 0xf0, 0x5a];
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length <= 160; length++) {
      // the mask sits right before the payload, as in a frame; the buffer is a view at an odd byteOffset
      const backing = new Uint8Array(offset + 4 + length + 3);
      const buf = backing.subarray(1);
      const payload = Uint8Array.from({ length }, (_, i) => (i * 37 + offset) & 255);
      buf.set(mask, offset);
      buf.set(payload, offset + 4);
      unmaskInPlace(buf, offset + 4, offset + 4 + length, buf, offset);
      assert.deepEqual(buf.subarray(offset + 4, offset + 4 + length), reference(payload, mask), `${offset}/${length}`);
      assert.deepEqual([...buf.subarray(offset, offset + 4)], mask, 'the mask itself is untouched');
      assert.equal(buf[offset + 4 + length], 0, 'nothing past the payload is written');
    }
  }
});

test('unmaskInPlace - a zero mask leaves the payload as it is; a large payload round-trips', () => {
  const zero = new Uint8Array(4);
  const data = Uint8Array.from({ length: 100 }, (_, i) => i);
  unmaskInPlace(data, 0, 100, zero, 0);
  assert.deepEqual(
    data,
    Uint8Array.from({ length: 100 }, (_, i) => i),
  );
  const mask = Uint8Array.from([1, 2, 3, 4]);
  const big = Uint8Array.from({ length: 70_001 }, (_, i) => (i * 7) & 255);
  const copy = big.slice();
  unmaskInPlace(big, 1, big.length, mask, 0);
  assert.notDeepEqual(big, copy);
  unmaskInPlace(big, 1, big.length, mask, 0);
  assert.deepEqual(big, copy);
});
