// Property tests for the due packet codec (docs/protocol.md, Packet layout) over every width and both byte orders.
// Bounded for `npm test`; FUZZ_RUNS raises the run count per property (e.g. FUZZ_RUNS=200000 for `npm run fuzz`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CloseCode, ErrorCode, ProtocolError } from '../../src/errors.js';
import {
  type ByteOrder,
  type DecodeResult,
  PacketCodec,
  type RouteBytes,
  type SeqBytes,
  signedRange,
} from '../../src/packet/index.js';

const RUNS = runsFromEnv(process.env.FUZZ_RUNS, 2000);

function runsFromEnv(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${raw}`);
  return n;
}

const ORDERS: readonly ByteOrder[] = ['big', 'little'];
const ROUTE_WIDTHS: readonly RouteBytes[] = [1, 2, 4];
const SEQ_WIDTHS: readonly SeqBytes[] = [0, 1, 2, 4];
/** Default 5000, plus small limits so the boundary (bufferBytes, bufferBytes + 1) is hit often. */
const BUFFER_SIZES = [0, 1, 7, 5000] as const;
const PACKET_CODES = new Set<string>([
  ErrorCode.PACKET_SHORT,
  ErrorCode.PACKET_SIZE_MISMATCH,
  ErrorCode.PACKET_TOO_LARGE,
]);

const codecs = new Map<string, PacketCodec>();
function codecOf(byteOrder: ByteOrder, routeBytes: RouteBytes, seqBytes: SeqBytes, bufferBytes: number): PacketCodec {
  const key = `${byteOrder}/${routeBytes}/${seqBytes}/${bufferBytes}`;
  let c = codecs.get(key);
  if (!c) {
    c = new PacketCodec({ byteOrder, routeBytes, seqBytes, bufferBytes });
    codecs.set(key, c);
  }
  return c;
}

const codecArb = fc
  .record({
    byteOrder: fc.constantFrom(...ORDERS),
    routeBytes: fc.constantFrom(...ROUTE_WIDTHS),
    seqBytes: fc.constantFrom(...SEQ_WIDTHS),
    bufferBytes: fc.constantFrom(...BUFFER_SIZES),
  })
  .map((o) => codecOf(o.byteOrder, o.routeBytes, o.seqBytes, o.bufferBytes));

/** Every value of a signed width, with its edges (min, max, 0, -1) drawn often. */
function signedArb(bytes: number): fc.Arbitrary<number> {
  const { min, max } = signedRange(bytes);
  return fc.oneof(fc.constantFrom(min, max, 0, Math.max(min, -1)), fc.integer({ min, max }));
}

/** Bodies of 0..max bytes: random small ones, and long ones filled cheaply from a seed (5000 random bytes per run is slow). */
function bodyArb(max: number): fc.Arbitrary<Uint8Array> {
  const small = fc.uint8Array({ maxLength: Math.min(max, 32) });
  const long = fc
    .record({ len: fc.oneof(fc.constant(max), fc.integer({ min: 0, max })), seed: fc.integer({ min: 0, max: 255 }) })
    .map(({ len, seed }) => Uint8Array.from({ length: len }, (_, i) => (seed + i * 31) & 0xff));
  return fc.oneof(small, long);
}

interface Message {
  codec: PacketCodec;
  route: number;
  seq: number;
  body: Uint8Array;
}
const messageArb: fc.Arbitrary<Message> = codecArb.chain((codec) =>
  fc.record({
    codec: fc.constant(codec),
    route: signedArb(codec.options.routeBytes),
    seq: signedArb(codec.options.seqBytes),
    body: bodyArb(codec.options.bufferBytes),
  }),
);

const label = (c: PacketCodec) =>
  `${c.options.byteOrder} R=${c.options.routeBytes} S=${c.options.seqBytes} buffer=${c.options.bufferBytes}`;

/** Places `bytes` at an offset inside a larger buffer, as ws hands out slices of its pooled Buffers. */
function embed(bytes: Uint8Array, offset: number): Uint8Array {
  const host = new Uint8Array(offset + bytes.length + 3).fill(0xee);
  host.set(bytes, offset);
  return host.subarray(offset, offset + bytes.length);
}

function throwsCode(fn: () => unknown, code: ErrorCode, closeCode?: CloseCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (closeCode !== undefined) assert.equal(err.closeCode, closeCode);
    return true;
  });
}

/**
 * What must hold for any frame: decode does not throw and returns a typed result; routeOf agrees with decode;
 * an accepted data packet re-encodes to the same bytes (header normalised to 0x00), so nothing was misread.
 */
function checkDecodeInvariants(codec: PacketCodec, frame: Uint8Array): DecodeResult {
  let r: DecodeResult | undefined;
  assert.doesNotThrow(() => {
    r = codec.decode(frame);
  }, label(codec));
  assert.ok(r !== undefined);
  if (!r.ok) {
    assert.ok(r.error instanceof ProtocolError, label(codec));
    assert.ok(PACKET_CODES.has(r.error.code), `${label(codec)}: unexpected code ${r.error.code}`);
    assert.equal(r.error.closeCode, r.error.code === ErrorCode.PACKET_TOO_LARGE ? CloseCode.TOO_LARGE : undefined);
    assert.equal(codec.routeOf(frame), undefined, label(codec));
    return r;
  }
  if (r.packet.kind === 'heartbeat') {
    assert.equal(codec.routeOf(frame), undefined, label(codec));
    assert.ok(((frame[4] as number) & 0x80) !== 0, `${label(codec)}: a heartbeat has bit 7 of the header set`);
    return r;
  }
  const p = r.packet;
  assert.equal(codec.routeOf(frame), p.route, label(codec));
  assert.equal(codec.seqOf(frame), p.seq, label(codec));
  assert.ok(p.body.length <= codec.options.bufferBytes, label(codec));
  const again = codec.encode({ route: p.route, seq: p.seq, body: p.body });
  const normalised = frame.slice();
  normalised[4] = 0;
  assert.deepEqual(again, normalised, label(codec));
  return r;
}

test('packet property - encode then decode gives back route, seq and body for every width and byte order', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(16), ({ codec, route, seq, body }, offset) => {
      const frame = codec.encode({ route, seq, body });
      const { routeBytes: R, seqBytes: S, byteOrder } = codec.options;
      assert.equal(frame.length, 5 + R + S + body.length);
      const size = new DataView(frame.buffer, frame.byteOffset).getUint32(0, byteOrder === 'little');
      assert.equal(size, 1 + R + S + body.length, 'size counts the bytes after itself');
      assert.equal(frame[4], 0x00, 'data header is sent as 0x00');
      const r = codec.decode(embed(frame, offset));
      assert.ok(r.ok && r.packet.kind === 'data', label(codec));
      assert.equal(r.packet.route, route);
      // S = 0: no seq on the wire, so any seq passed is dropped (due drops it too).
      assert.equal(r.packet.seq, S === 0 ? 0 : seq);
      assert.deepEqual(r.packet.body, body);
      checkDecodeInvariants(codec, frame);
    }),
    { numRuns: RUNS },
  );
});

test('packet property - encode covers the full signed range at 4 bytes (route and seq), both byte orders', () => {
  const { min, max } = signedRange(4);
  for (const byteOrder of ORDERS) {
    const codec = codecOf(byteOrder, 4, 4, 5000);
    for (const [route, seq] of [
      [min, max],
      [max, min],
      [-1, 1],
      [0, -1],
    ] as const) {
      const r = codec.decode(codec.encode({ route, seq }));
      assert.ok(r.ok && r.packet.kind === 'data');
      assert.deepEqual([r.packet.route, r.packet.seq], [route, seq], byteOrder);
    }
  }
});

test('packet property - encode rejects a route outside its signed width with PACKET_ROUTE_OVERFLOW', () => {
  const badRoute = (codec: PacketCodec) => {
    const { min, max } = signedRange(codec.options.routeBytes);
    return fc.oneof(
      fc.integer({ min: max + 1, max: max + 2 ** 33 }),
      fc.integer({ min: min - 2 ** 33, max: min - 1 }),
      fc.constantFrom(max + 1, min - 1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
    );
  };
  fc.assert(
    fc.property(
      codecArb.chain((codec) => fc.tuple(fc.constant(codec), badRoute(codec))),
      ([codec, route]) => throwsCode(() => codec.encode({ route, seq: 0 }), ErrorCode.PACKET_ROUTE_OVERFLOW),
    ),
    { numRuns: RUNS },
  );
});

test('packet property - encode rejects a seq outside its signed width with PACKET_SEQ_OVERFLOW', () => {
  const withSeq = codecArb.filter((c) => c.options.seqBytes !== 0);
  fc.assert(
    fc.property(
      withSeq.chain((codec) => {
        const { min, max } = signedRange(codec.options.seqBytes);
        const bad = fc.oneof(
          fc.integer({ min: max + 1, max: max + 2 ** 33 }),
          fc.integer({ min: min - 2 ** 33, max: min - 1 }),
          fc.constantFrom(max + 1, min - 1, 1.5, Number.NaN),
        );
        return fc.tuple(fc.constant(codec), bad);
      }),
      ([codec, seq]) => throwsCode(() => codec.encode({ route: 1, seq }), ErrorCode.PACKET_SEQ_OVERFLOW),
    ),
    { numRuns: RUNS },
  );
});

test('packet property - encode rejects a body over bufferBytes with PACKET_TOO_LARGE and close code 1009', () => {
  fc.assert(
    fc.property(codecArb, fc.integer({ min: 1, max: 64 }), (codec, over) => {
      const body = new Uint8Array(codec.options.bufferBytes + over);
      throwsCode(() => codec.encode({ route: 1, seq: 1, body }), ErrorCode.PACKET_TOO_LARGE, CloseCode.TOO_LARGE);
    }),
    { numRuns: Math.min(RUNS, 500) },
  );
});

test('packet property - decode never throws on arbitrary bytes', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 24 }),
    fc.uint8Array({ maxLength: 200 }),
    // Mostly-valid prefixes: a size field that matches and a random header, the interesting part of the space.
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })).map(([header, rest]) => {
      const out = new Uint8Array(5 + rest.length);
      new DataView(out.buffer).setUint32(0, 1 + rest.length);
      out[4] = header;
      out.set(rest, 5);
      return out;
    }),
  );
  fc.assert(
    fc.property(codecArb, bytes, fc.nat(8), (codec, frame, offset) => {
      checkDecodeInvariants(codec, embed(frame, offset));
      // Also read as little-endian size: the same bytes reversed in the size field.
      if (frame.length >= 4) {
        const swapped = frame.slice();
        swapped.set(frame.subarray(0, 4).reverse(), 0);
        checkDecodeInvariants(codec, swapped);
      }
    }),
    { numRuns: RUNS },
  );
});

type Mutation =
  | { op: 'flip'; at: number; mask: number }
  | { op: 'truncate'; to: number }
  | { op: 'append'; bytes: Uint8Array }
  | { op: 'header'; value: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), to: fc.nat() }),
  fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('header' as const), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(frame: Uint8Array, m: Mutation): Uint8Array {
  switch (m.op) {
    case 'flip': {
      if (frame.length === 0) return frame;
      const out = frame.slice();
      const at = m.at % out.length;
      out[at] = (out[at] as number) ^ m.mask;
      return out;
    }
    case 'truncate':
      return frame.slice(0, m.to % (frame.length + 1));
    case 'append': {
      const out = new Uint8Array(frame.length + m.bytes.length);
      out.set(frame);
      out.set(m.bytes, frame.length);
      return out;
    }
    case 'header': {
      if (frame.length < 5) return frame;
      const out = frame.slice();
      out[4] = m.value;
      return out;
    }
  }
}

test('packet property - decode never throws on mutated valid packets (flip, truncate, append, header)', () => {
  const valid = fc.oneof(
    { weight: 4, arbitrary: messageArb.map((m) => ({ codec: m.codec, frame: m.codec.encode(m) })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(codecArb, fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { nil: undefined }))
        .map(([codec, t]) => ({ codec, frame: codec.encodeHeartbeat(t) })),
    },
  );
  fc.assert(
    fc.property(valid, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), ({ codec, frame }, ms) => {
      let f = frame;
      for (const m of ms) {
        f = mutate(f, m);
        checkDecodeInvariants(codec, f);
      }
    }),
    { numRuns: RUNS },
  );
});

test('packet property - the lenient heartbeat 00 00 00 01 80 is a heartbeat in both byte orders and every width', () => {
  const lenient = Uint8Array.of(0, 0, 0, 1, 0x80);
  fc.assert(
    fc.property(codecArb, fc.nat(8), (codec, offset) => {
      const r = checkDecodeInvariants(codec, embed(lenient, offset));
      assert.ok(r.ok, label(codec));
      assert.deepEqual(r.packet, { kind: 'heartbeat', timeNs: undefined }, label(codec));
    }),
    { numRuns: Math.min(RUNS, 200) },
  );
  // The native little-endian heartbeat is one too, and both answer with the configured order.
  for (const routeBytes of ROUTE_WIDTHS) {
    const little = codecOf('little', routeBytes, 2, 5000);
    assert.deepEqual(little.decode(Uint8Array.of(1, 0, 0, 0, 0x80)), {
      ok: true,
      packet: { kind: 'heartbeat', timeNs: undefined },
    });
    assert.deepEqual(little.encodeHeartbeat(), Uint8Array.of(1, 0, 0, 0, 0x80));
  }
});

test('packet property - heartbeat time round-trips over the full i64 range in both byte orders', () => {
  fc.assert(
    fc.property(codecArb, fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.nat(8), (codec, timeNs, offset) => {
      const frame = codec.encodeHeartbeat(timeNs);
      assert.equal(frame.length, 13);
      const r = codec.decode(embed(frame, offset));
      assert.ok(r.ok, label(codec));
      assert.deepEqual(r.packet, { kind: 'heartbeat', timeNs }, label(codec));
    }),
    { numRuns: RUNS },
  );
});

test('packet property - decoded body is a zero-copy view on the frame buffer', () => {
  fc.assert(
    fc.property(
      messageArb.filter((m) => m.body.length > 0),
      fc.nat(16),
      ({ codec, route, seq, body }, offset) => {
        const frame = embed(codec.encode({ route, seq, body }), offset);
        const r = codec.decode(frame);
        assert.ok(r.ok && r.packet.kind === 'data');
        const view = r.packet.body;
        assert.equal(view.buffer, frame.buffer, 'same ArrayBuffer');
        assert.equal(view.byteOffset, frame.byteOffset + codec.minDataFrame);
        assert.equal(view.length, body.length);
        // A write through the frame shows through the body: proof it is a view, not a copy.
        const last = frame.length - 1;
        frame[last] = (frame[last] as number) ^ 0xff;
        assert.equal(view[view.length - 1], frame[last]);
      },
    ),
    { numRuns: RUNS },
  );
});
