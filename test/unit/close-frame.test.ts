import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeCodeOfWsError, isSendableCloseCode, truncateUtf8 } from '../../src/network/close-frame.js';

test('close frame - sendable codes follow RFC 6455 and ws (1004-1006 and 1015 are reserved)', () => {
  for (const code of [1000, 1001, 1002, 1003, 1007, 1009, 1011, 1014, 3000, 4000, 4006, 4999]) {
    assert.equal(isSendableCloseCode(code), true, String(code));
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 4000.5, Number.NaN]) {
    assert.equal(isSendableCloseCode(code), false, String(code));
  }
});

test('close frame - reasons are cut to 123 bytes at a character boundary', () => {
  assert.equal(truncateUtf8('bye', 123), 'bye');
  assert.equal(truncateUtf8('a'.repeat(200), 123), 'a'.repeat(123));
  const euros = '€'.repeat(50); // 3 bytes each
  const cut = truncateUtf8(euros, 123);
  assert.equal(cut, '€'.repeat(41));
  assert.ok(Buffer.byteLength(cut) <= 123);
  assert.equal(truncateUtf8('ab😀', 5), 'ab'); // never splits a surrogate pair
});

test('close frame - the code of a ws receiver error is read from its status symbol, else 1006', () => {
  const err = new RangeError('Max payload size exceeded');
  Object.defineProperty(err, Symbol('status-code'), { value: 1009 });
  assert.equal(closeCodeOfWsError(err), 1009);
  assert.equal(closeCodeOfWsError(new Error('write EPIPE')), 1006);
});
