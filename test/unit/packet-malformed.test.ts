// Malformed client frames (docs/protocol.md, Errors; docs/contributing.md): decode returns a typed error value, never throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode, ErrorCode, ProtocolError } from '../../src/errors.js';
import {
  type DecodeResult,
  MAX_BUFFER_BYTES,
  PacketCodec,
  type PacketOptions,
  packetOptions,
  type RouteBytes,
  type SeqBytes,
} from '../../src/packet/index.js';

const ROUTE_WIDTHS: readonly RouteBytes[] = [1, 2, 4];
const SEQ_WIDTHS: readonly SeqBytes[] = [0, 1, 2, 4];
const ALL: PacketCodec[] = (['big', 'little'] as const).flatMap((byteOrder) =>
  ROUTE_WIDTHS.flatMap((routeBytes) =>
    SEQ_WIDTHS.map((seqBytes) => new PacketCodec({ byteOrder, routeBytes, seqBytes })),
  ),
);
const label = (c: PacketCodec) => `${c.options.byteOrder} R=${c.options.routeBytes} S=${c.options.seqBytes}`;
const bytes = (...b: number[]) => Uint8Array.from(b);

/** A frame in the codec's byte order: size field (given, or computed from the rest), then header and rest. */
function frame(codec: PacketCodec, header: number, rest: number[], size = 1 + rest.length): Uint8Array {
  const out = new Uint8Array(5 + rest.length);
  new DataView(out.buffer).setUint32(0, size, codec.options.byteOrder === 'little');
  out[4] = header;
  out.set(rest, 5);
  return out;
}

function assertError(r: DecodeResult, code: ErrorCode, where: string, closeCode?: CloseCode): ProtocolError {
  assert.equal(r.ok, false, `${where}: expected ${code}`);
  if (r.ok) throw new Error('unreachable');
  assert.ok(r.error instanceof ProtocolError, where);
  assert.equal(r.error.code, code, `${where}: ${r.error.message}`);
  assert.equal(r.error.closeCode, closeCode, where);
  return r.error;
}

test('packet malformed - frames of 0 to 4 bytes are PACKET_SHORT in every config', () => {
  for (const codec of ALL) {
    for (let n = 0; n <= 4; n++) {
      for (const fill of [0x00, 0x01, 0x80, 0xff]) {
        const f = new Uint8Array(n).fill(fill);
        const e = assertError(codec.decode(f), ErrorCode.PACKET_SHORT, `${label(codec)} n=${n} fill=${fill}`);
        assert.match(e.message, new RegExp(`^packet is ${n} bytes, at least 5 expected$`));
        assert.equal(codec.routeOf(f), undefined);
        assert.equal(codec.seqOf(f), 0);
      }
    }
  }
});

test('packet malformed - a size field larger than the frame is PACKET_SIZE_MISMATCH', () => {
  for (const codec of ALL) {
    const ok = codec.encode({ route: 1, seq: 1, body: bytes(1, 2, 3) });
    const n = ok.length - 4;
    for (const header of [0x00, 0x80]) {
      const f = frame(codec, header, [...ok.subarray(5)], n + 1);
      const e = assertError(codec.decode(f), ErrorCode.PACKET_SIZE_MISMATCH, `${label(codec)} header=${header}`);
      assert.equal(e.message, `size field says ${n + 1} bytes, frame carries ${n}`);
      assert.equal(codec.routeOf(f), undefined);
    }
  }
});

test('packet malformed - a size field smaller than the frame is PACKET_SIZE_MISMATCH', () => {
  for (const codec of ALL) {
    const ok = codec.encode({ route: 1, seq: 1, body: bytes(1, 2, 3) });
    const n = ok.length - 4;
    for (const size of [0, 1, n - 1]) {
      const f = frame(codec, 0x00, [...ok.subarray(5)], size);
      const e = assertError(codec.decode(f), ErrorCode.PACKET_SIZE_MISMATCH, `${label(codec)} size=${size}`);
      assert.equal(e.message, `size field says ${size} bytes, frame carries ${n}`);
      assert.equal(codec.routeOf(f), undefined);
    }
  }
});

test('packet malformed - a truncated route or seq is PACKET_SHORT even with a consistent size field', () => {
  for (const codec of ALL) {
    const { routeBytes: R, seqBytes: S } = codec.options;
    // Every length from "header only" to one byte short of a complete header: route cut, or seq cut.
    for (let have = 0; have < R + S; have++) {
      const f = frame(codec, 0x00, new Array<number>(have).fill(0x01));
      const e = assertError(codec.decode(f), ErrorCode.PACKET_SHORT, `${label(codec)} have=${have}`);
      assert.equal(e.message, `data packet is ${5 + have} bytes, at least ${5 + R + S} expected`);
      assert.equal(codec.routeOf(f), undefined, label(codec));
    }
    // Exactly the header with no body is a valid empty-body packet.
    const full = codec.decode(frame(codec, 0x00, new Array<number>(R + S).fill(0)));
    assert.ok(full.ok && full.packet.kind === 'data' && full.packet.body.length === 0, label(codec));
  }
});

test('packet malformed - a huge size field (0xFFFFFFFF) is a size mismatch, not an allocation', () => {
  for (const codec of ALL) {
    for (const header of [0x00, 0x80]) {
      for (const extra of [0, 4, 64]) {
        const f = new Uint8Array(5 + extra).fill(0xff);
        f[4] = header;
        const e = assertError(codec.decode(f), ErrorCode.PACKET_SIZE_MISMATCH, `${label(codec)} +${extra}`);
        assert.equal(e.message, `size field says 4294967295 bytes, frame carries ${1 + extra}`);
      }
    }
  }
});

test('packet malformed - heartbeat with trailing bytes and a consistent size is a heartbeat without time', () => {
  for (const codec of ALL) {
    // Only size 9 carries a time (docs/protocol.md, Packet layout); other trailing bytes are ignored as due does.
    for (const trailing of [1, 2, 8, 9, 20]) {
      const r = codec.decode(frame(codec, 0x80, new Array<number>(trailing).fill(0x42)));
      assert.ok(r.ok, `${label(codec)} trailing=${trailing}`);
      const timeNs = trailing === 8 ? 0x4242_4242_4242_4242n : undefined;
      assert.deepEqual(r.packet, { kind: 'heartbeat', timeNs }, `${label(codec)} trailing=${trailing}`);
    }
  }
});

test('packet malformed - heartbeat whose size field disagrees with the frame is PACKET_SIZE_MISMATCH', () => {
  for (const codec of ALL) {
    const cases: Array<[Uint8Array, number, number]> = [
      [frame(codec, 0x80, [0x00], 1), 1, 2], // one trailing byte the size does not count
      [frame(codec, 0x80, [], 9), 9, 1], // claims a time it does not carry
      [frame(codec, 0x80, [], 0), 0, 1],
      [frame(codec, 0x80, new Array<number>(8).fill(0), 1), 1, 9],
    ];
    for (const [f, size, carries] of cases) {
      const e = assertError(codec.decode(f), ErrorCode.PACKET_SIZE_MISMATCH, `${label(codec)} size=${size}`);
      assert.equal(e.message, `size field says ${size} bytes, frame carries ${carries}`);
    }
  }
  // The lenient big-endian heartbeat is exactly 5 bytes: one more byte and a little-endian codec reads the size.
  const little = new PacketCodec({ byteOrder: 'little' });
  assertError(little.decode(bytes(0, 0, 0, 1, 0x80, 0)), ErrorCode.PACKET_SIZE_MISMATCH, 'lenient + 1 byte');
  assertError(little.decode(bytes(0, 0, 0, 2, 0x80, 0)), ErrorCode.PACKET_SIZE_MISMATCH, 'big-endian size 2');
});

test('packet malformed - a data header with low 7 bits set is still data (due classifies on bit 7 only)', () => {
  for (const codec of ALL) {
    const ok = codec.encode({ route: -3, seq: 1, body: bytes(0x68, 0x69) });
    for (const header of [0x01, 0x40, 0x7f]) {
      const f = ok.slice();
      f[4] = header;
      const r = codec.decode(f);
      assert.ok(r.ok && r.packet.kind === 'data', `${label(codec)} header=${header}`);
      assert.equal(r.packet.route, -3);
      assert.equal(r.packet.seq, codec.options.seqBytes === 0 ? 0 : 1);
      assert.deepEqual([...r.packet.body], [0x68, 0x69]);
      assert.equal(codec.routeOf(f), -3);
    }
    for (const header of [0x81, 0xc0, 0xff]) {
      const r = codec.decode(frame(codec, header, []));
      assert.deepEqual(r, { ok: true, packet: { kind: 'heartbeat', timeNs: undefined } }, `header=${header}`);
    }
  }
});

test('packet malformed - a body one byte over bufferBytes is PACKET_TOO_LARGE with close code 1009', () => {
  for (const bufferBytes of [0, 1, 5000]) {
    for (const byteOrder of ['big', 'little'] as const) {
      const codec = new PacketCodec({ byteOrder, bufferBytes });
      const header = [0, 1, 0, 2];
      const atLimit = frame(codec, 0x00, [...header, ...new Array<number>(bufferBytes).fill(7)]);
      const r = codec.decode(atLimit);
      assert.ok(
        r.ok && r.packet.kind === 'data' && r.packet.body.length === bufferBytes,
        `${byteOrder} ${bufferBytes}`,
      );
      const over = frame(codec, 0x00, [...header, ...new Array<number>(bufferBytes + 1).fill(7)]);
      const e = assertError(codec.decode(over), ErrorCode.PACKET_TOO_LARGE, `${byteOrder} ${bufferBytes}`, 1009);
      assert.equal(e.closeCode, CloseCode.TOO_LARGE);
      assert.equal(e.message, `body is ${bufferBytes + 1} bytes, packet.bufferBytes allows ${bufferBytes}`);
      assert.equal(codec.routeOf(over), undefined);
      assert.equal(codec.maxFrameBytes, Math.max(over.length - 1, 13), 'maxFrameBytes: largest valid frame');
    }
  }
});

test('packet malformed - maxFrameBytes always admits a time-stamped heartbeat (13 bytes)', () => {
  const tiny = new PacketCodec({ routeBytes: 1, seqBytes: 0, bufferBytes: 0 });
  assert.equal(tiny.maxFrameBytes, 13);
  assert.equal(new PacketCodec().maxFrameBytes, 5 + 2 + 2 + 5000);
});

test('packet malformed - with seqBytes 0 a seq passed to encode is dropped, as due drops it', () => {
  const codec = new PacketCodec({ routeBytes: 4, seqBytes: 0 });
  assert.deepEqual(codec.encode({ route: 1, seq: 2 }), codec.encode({ route: 1 }));
  assert.equal(codec.seqOf(codec.encode({ route: 1, seq: 2 })), 0);
});

test('packet malformed - decode reads nothing outside the view it is given', () => {
  for (const codec of ALL) {
    const good = codec.encode({ route: 5, seq: 1, body: bytes(9) });
    // The same bytes followed by more in the underlying buffer: only the view counts.
    const host = new Uint8Array(good.length + 8).fill(0xff);
    host.set(good, 2);
    const r = codec.decode(host.subarray(2, 2 + good.length));
    assert.ok(r.ok && r.packet.kind === 'data' && r.packet.route === 5, label(codec));
    assertError(codec.decode(host.subarray(2, 2 + good.length - 1)), ErrorCode.PACKET_SIZE_MISMATCH, label(codec));
  }
});

function optionError(input: Record<string, unknown>): ProtocolError {
  let caught: unknown;
  try {
    // Deliberately invalid input as it could arrive from untyped config: the cast is the point of the test.
    packetOptions(input as Partial<PacketOptions>);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtocolError, `expected a ProtocolError for ${JSON.stringify(input)}`);
  assert.equal(caught.code, ErrorCode.PACKET_OPTIONS);
  return caught;
}

test('packet options - validation errors name the field, the rule and the value', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ routeBytes: 3 }, 'packet.routeBytes must be 1, 2 or 4, got 3'],
    [{ routeBytes: 0 }, 'packet.routeBytes must be 1, 2 or 4, got 0'],
    [{ routeBytes: '2' }, 'packet.routeBytes must be 1, 2 or 4, got 2'],
    [{ seqBytes: 3 }, 'packet.seqBytes must be 0, 1, 2 or 4, got 3'],
    [{ seqBytes: 8 }, 'packet.seqBytes must be 0, 1, 2 or 4, got 8'],
    [{ byteOrder: 'middle' }, 'packet.byteOrder must be "big" or "little", got middle'],
    [{ byteOrder: 'BIG' }, 'packet.byteOrder must be "big" or "little", got BIG'],
    [{ bufferBytes: -1 }, `packet.bufferBytes must be an integer in [0, ${MAX_BUFFER_BYTES}], got -1`],
    [{ bufferBytes: 1.5 }, `packet.bufferBytes must be an integer in [0, ${MAX_BUFFER_BYTES}], got 1.5`],
    [{ bufferBytes: Number.NaN }, `packet.bufferBytes must be an integer in [0, ${MAX_BUFFER_BYTES}], got NaN`],
    [{ bufferBytes: 2 ** 32 }, `packet.bufferBytes must be an integer in [0, ${MAX_BUFFER_BYTES}], got 4294967296`],
    [{ heartbeatTime: 'yes' }, 'packet.heartbeatTime must be a boolean, got yes'],
  ];
  for (const [input, message] of cases) assert.equal(optionError(input).message, message);
  // The constructor validates the same way.
  assert.throws(
    () => new PacketCodec({ routeBytes: 3 as RouteBytes }),
    (err: unknown) => err instanceof ProtocolError && err.message === 'packet.routeBytes must be 1, 2 or 4, got 3',
  );
});

test('packet options - defaults fill missing and undefined fields; unknown fields are not copied', () => {
  assert.deepEqual(packetOptions(), {
    byteOrder: 'big',
    routeBytes: 2,
    seqBytes: 2,
    bufferBytes: 5000,
    heartbeatTime: false,
  });
  assert.deepEqual(packetOptions({ routeBytes: undefined, seqBytes: 0, byteOrder: 'little' }), {
    byteOrder: 'little',
    routeBytes: 2,
    seqBytes: 0,
    bufferBytes: 5000,
    heartbeatTime: false,
  });
  const extra = { bufferBytes: MAX_BUFFER_BYTES, other: 1 } as Partial<PacketOptions>;
  assert.equal(Object.hasOwn(packetOptions(extra), 'other'), false);
  assert.equal(packetOptions(extra).bufferBytes, MAX_BUFFER_BYTES);
});
