// docs/protocol.md examples: one fixture file per table row, read here and checked both ways.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ByteOrder, PacketCodec, type RouteBytes, type SeqBytes } from '../../src/packet/index.js';

const DIR = fileURLToPath(new URL('../fixtures/packets/', import.meta.url));
const ROUTE_WIDTHS: readonly RouteBytes[] = [1, 2, 4];
const SEQ_WIDTHS: readonly SeqBytes[] = [0, 1, 2, 4];

interface Vector {
  readonly file: string;
  readonly byteOrder: ByteOrder;
  /** Absent when the row holds for every width ("any big-endian"): then every R × S is checked. */
  readonly routeBytes: RouteBytes | undefined;
  readonly seqBytes: SeqBytes | undefined;
  readonly kind: 'data' | 'heartbeat';
  readonly route: number;
  readonly seq: number;
  readonly body: Uint8Array;
  readonly timeNs: bigint | undefined;
  readonly bytes: Uint8Array;
}

function hex(text: string, where: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  assert.match(clean, /^([0-9a-fA-F]{2})*$/, `${where}: not an even run of hex digits`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}

/** Format: `# <big|little> [R=n] [S=n] <data|heartbeat> [route=n] [seq=n] [body=hex] [time=ns]`, then hex lines. */
function parseVector(file: string, text: string): Vector {
  const [first = '', ...rest] = text.split('\n');
  assert.ok(first.startsWith('# '), `${file}: the first line must be a '# ' comment naming config and kind`);
  const fields = new Map<string, string>();
  const flags = new Set<string>();
  for (const token of first.slice(2).trim().split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq < 0) flags.add(token);
    else fields.set(token.slice(0, eq), token.slice(eq + 1));
  }
  const byteOrder = flags.has('little') ? 'little' : 'big';
  assert.ok(flags.has('big') !== flags.has('little'), `${file}: name exactly one byte order`);
  assert.ok(flags.has('data') !== flags.has('heartbeat'), `${file}: name exactly one kind`);
  const width = <T extends number>(key: string, allowed: readonly T[]): T | undefined => {
    const v = fields.get(key);
    if (v === undefined) return undefined;
    const n = allowed.find((a) => String(a) === v);
    assert.ok(n !== undefined, `${file}: ${key}=${v} is not one of ${allowed.join(', ')}`);
    return n;
  };
  const time = fields.get('time');
  return {
    file,
    byteOrder,
    routeBytes: width('R', ROUTE_WIDTHS),
    seqBytes: width('S', SEQ_WIDTHS),
    kind: flags.has('data') ? 'data' : 'heartbeat',
    route: Number(fields.get('route') ?? 0),
    seq: Number(fields.get('seq') ?? 0),
    body: hex(fields.get('body') ?? '', `${file} body=`),
    timeNs: time === undefined ? undefined : BigInt(time),
    bytes: hex(rest.filter((l) => !l.startsWith('#')).join(' '), file),
  };
}

const vectors: Vector[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.hex'))
  .sort()
  .map((f) => parseVector(f, readFileSync(DIR + f, 'utf8')));

/** The codecs a row applies to: its own widths, or every width when the row leaves them open. */
function codecsFor(v: Vector): PacketCodec[] {
  const out: PacketCodec[] = [];
  for (const routeBytes of v.routeBytes === undefined ? ROUTE_WIDTHS : [v.routeBytes])
    for (const seqBytes of v.seqBytes === undefined ? SEQ_WIDTHS : [v.seqBytes])
      out.push(new PacketCodec({ byteOrder: v.byteOrder, routeBytes, seqBytes }));
  return out;
}

const label = (c: PacketCodec) => `${c.options.byteOrder} R=${c.options.routeBytes} S=${c.options.seqBytes}`;

test('packet vectors - every docs/protocol.md example has a fixture', () => {
  const has = (pred: (v: Vector) => boolean) => vectors.some(pred);
  assert.equal(vectors.length, 6, vectors.map((v) => v.file).join(', '));
  assert.ok(has((v) => v.byteOrder === 'big' && v.kind === 'data' && v.routeBytes === 2 && v.seqBytes === 2));
  assert.ok(has((v) => v.byteOrder === 'big' && v.kind === 'heartbeat' && v.timeNs === undefined));
  assert.ok(has((v) => v.byteOrder === 'big' && v.kind === 'heartbeat' && v.timeNs !== undefined));
  assert.ok(has((v) => v.byteOrder === 'big' && v.kind === 'data' && v.routeBytes === 4 && v.seqBytes === 0));
  assert.ok(has((v) => v.byteOrder === 'little' && v.kind === 'data' && v.routeBytes === 2 && v.seqBytes === 2));
  assert.ok(has((v) => v.byteOrder === 'little' && v.kind === 'heartbeat' && v.timeNs !== undefined));
});

for (const v of vectors) {
  test(`packet vectors - ${v.file}: encode produces exactly the fixture bytes`, () => {
    for (const codec of codecsFor(v)) {
      const out =
        v.kind === 'data'
          ? codec.encode({ route: v.route, seq: v.seq, body: v.body })
          : codec.encodeHeartbeat(v.timeNs);
      assert.deepEqual(out, v.bytes, label(codec));
    }
  });

  test(`packet vectors - ${v.file}: decode gives back route, seq, body and time`, () => {
    for (const codec of codecsFor(v)) {
      const r = codec.decode(v.bytes);
      assert.ok(r.ok, `${label(codec)}: ${r.ok ? '' : r.error.message}`);
      if (v.kind === 'data') {
        // S = 0: the seq is not on the wire, so it decodes as 0 whatever was encoded (docs/protocol.md, Packet layout).
        const seq = codec.options.seqBytes === 0 ? 0 : v.seq;
        assert.deepEqual(
          r.packet.kind === 'data' ? { route: r.packet.route, seq: r.packet.seq, body: [...r.packet.body] } : r.packet,
          { route: v.route, seq, body: [...v.body] },
          label(codec),
        );
        assert.equal(codec.routeOf(v.bytes), v.route, label(codec));
        assert.equal(codec.seqOf(v.bytes), seq, label(codec));
      } else {
        assert.deepEqual(r.packet, { kind: 'heartbeat', timeNs: v.timeNs }, label(codec));
        assert.equal(codec.routeOf(v.bytes), undefined, label(codec));
      }
    }
  });
}

test('packet vectors - serverHeartbeat() is the plain heartbeat unless heartbeatTime is on', () => {
  for (const v of vectors.filter((x) => x.kind === 'heartbeat' && x.timeNs === undefined)) {
    for (const codec of codecsFor(v)) assert.deepEqual(codec.serverHeartbeat(), v.bytes, label(codec));
  }
});

test('packet vectors - serverHeartbeat() with heartbeatTime carries the wall clock in ns, in the byte order', () => {
  for (const byteOrder of ['big', 'little'] as const) {
    const codec = new PacketCodec({ byteOrder, heartbeatTime: true });
    const before = BigInt(Date.now()) * 1_000_000n;
    const frame = codec.serverHeartbeat();
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    const template = vectors.find((x) => x.byteOrder === byteOrder && x.kind === 'heartbeat' && x.timeNs !== undefined);
    assert.ok(template, `a ${byteOrder} time-stamped heartbeat fixture`);
    assert.deepEqual(frame.subarray(0, 5), template.bytes.subarray(0, 5), byteOrder);
    const r = codec.decode(frame);
    assert.ok(r.ok && r.packet.kind === 'heartbeat' && r.packet.timeNs !== undefined, byteOrder);
    // A millisecond of slack each side: performance.timeOrigin and Date.now() are separate clocks.
    assert.ok(r.packet.timeNs >= before - 1_000_000n && r.packet.timeNs <= after + 1_000_000n, `${r.packet.timeNs}`);
  }
});
