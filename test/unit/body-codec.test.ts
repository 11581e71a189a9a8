import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pack, unpack } from 'msgpackr';
import { DuetError, ErrorCode } from '../../src/errors.js';
import { bodyCodec, dueJsonCodec, jsonCodec, protoCodec, toBody } from '../../src/node/body-codec.js';
import { msgpackCodec } from '../../src/node/msgpack-codec.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

test('body codec - json encodes a string as due does (a JSON string, quotes and escapes), not raw', () => {
  // cluster.node.codec = "json" is due's json codec.
  assert.equal(bodyCodec('json'), dueJsonCodec);
  assert.equal(text(toBody(dueJsonCodec, 'hello')), '"hello"');
  assert.equal(text(toBody(dueJsonCodec, 'a "q"\n')), '"a \\"q\\"\\n"');
  assert.equal(text(toBody(dueJsonCodec, { a: 1 })), '{"a":1}');
  // A Node built without a codec (embedders) keeps sending strings as their bytes.
  assert.equal(text(toBody(jsonCodec, 'hello')), 'hello');
  // Bytes are never re-encoded, whatever the codec.
  assert.deepEqual(toBody(dueJsonCodec, Uint8Array.of(1, 2)), Uint8Array.of(1, 2));
  // proto has no string message: the UTF-8 bytes go out.
  assert.equal(text(toBody(protoCodec, 'hello')), 'hello');
  assert.equal(dueJsonCodec.decode<string>(toBody(dueJsonCodec, 'round trip')), 'round trip');
});

test('body codec - msgpack is plain MessagePack (no records), readable by any msgpack decoder', () => {
  assert.equal(bodyCodec('msgpack'), msgpackCodec);
  const value = { id: 7, name: 'ada', tags: ['x', 'y'], score: 1.5, ok: true, nested: { n: null } };
  const bytes = toBody(msgpackCodec, value);
  // fixmap with 6 entries, then fixstr "id" (0xa2 'i' 'd') and positive fixint 7.
  assert.deepEqual([...bytes.subarray(0, 5)], [0x86, 0xa2, 0x69, 0x64, 0x07]);
  assert.deepEqual(unpack(bytes), value);
  assert.deepEqual(msgpackCodec.decode(pack(value)), value);
  // A string is a msgpack str, as due's msgpack codec writes it.
  assert.deepEqual([...toBody(msgpackCodec, 'hi')], [0xa2, 0x68, 0x69]);
  assert.throws(
    () => msgpackCodec.decode(Uint8Array.of(0x92, 0x01)),
    (e: unknown) => e instanceof DuetError && e.code === ErrorCode.ENVELOPE_DECODE,
  );
});

test('body codec - cluster.node.codec accepts msgpack', async () => {
  const { loadConfig } = await import('../../src/config/load.js');
  const { config } = loadConfig({ role: 'node', env: {}, argv: ['--set', 'cluster.node.codec="msgpack"'] });
  assert.equal(bodyCodec(config.cluster.node.codec).name, 'msgpack');
});
