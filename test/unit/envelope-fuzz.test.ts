// Fuzz of the bus envelopes (issue 10): every decoder, fed random bytes and mutated valid encodings, returns a value
// or throws DuetError DUET_ERR_ENVELOPE_DECODE, never anything else; and a node whose deliver/event subjects carry
// garbage keeps serving. Bounded for `npm test`; FUZZ_RUNS raises the run count (`npm run fuzz`). No sockets: the
// node runs on the memory bus and this test plays the gate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { BusMessage } from '../../src/bus/bus.js';
import {
  type Codec,
  GateOpsCodec,
  NodeBatchCodec,
  ResultsCodec,
  TakeoverCodec,
  TakeoverReplyCodec,
  TransitionCodec,
} from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { DuetError, ErrorCode } from '../../src/errors.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';

const RUNS = runsFromEnv(process.env.FUZZ_RUNS, 1000);

function runsFromEnv(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${raw}`);
  return n;
}

const id = fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/);
const i64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 64 });
const kind = fc.constantFrom(1, 2);

const nodeBatch = fc.record({
  gid: id,
  items: fc.array(
    fc.oneof(
      fc.record({ deliver: fc.record({ cid: i64, uid: i64, packet: bytes, nid: id }) }),
      fc.record({ trigger: fc.record({ event: fc.integer({ min: 0, max: 5 }), cid: i64, uid: i64 }) }),
      fc.record({ moved: fc.record({ uid: i64, gid: id }) }),
    ),
    { maxLength: 5 },
  ),
});
const gateOps = fc.record({
  nid: id,
  reply: id,
  forwarded: fc.boolean(),
  ops: fc.array(
    fc.oneof(
      fc.record({ id: i64, bind: fc.record({ cid: i64, uid: i64 }) }),
      fc.record({ id: i64, push: fc.record({ kind, target: i64, packet: bytes, disconnect: fc.boolean() }) }),
      fc.record({
        id: i64,
        multicast: fc.record({
          kind,
          targets: fc.array(i64, { maxLength: 4 }),
          packet: bytes,
          disconnect: fc.boolean(),
        }),
      }),
      fc.record({ id: i64, publish: fc.record({ channel: fc.string(), packet: bytes, disconnect: fc.boolean() }) }),
      fc.record({
        id: i64,
        disconnect: fc.record({ kind, target: i64, force: fc.boolean(), displaced: fc.boolean() }),
      }),
      fc.record({ id: i64, fence: fc.record({ uid: i64 }) }),
    ),
    { maxLength: 5 },
  ),
});
const results = fc.record({
  results: fc.array(
    fc.record({
      id: i64,
      code: fc.integer({ min: 0, max: 4 }),
      message: fc.string(),
      total: i64,
      online: fc.boolean(),
      ip: fc.string(),
      gid: id,
    }),
    { maxLength: 5 },
  ),
});
const takeover = fc.record({ cid: i64, uid: i64, epoch: i64, seen: i64, gid: id });
const takeoverReply = fc.record({
  ok: fc.boolean(),
  error: fc.string(),
  packets: fc.array(bytes, { maxLength: 4 }),
  pushed: i64,
  nodes: fc.array(id, { maxLength: 3 }),
});
const transition = fc.record({
  tsMs: i64,
  gate: id,
  cid: i64,
  uid: i64,
  from: fc.string(),
  to: fc.string(),
  event: fc.string(),
  reason: fc.string(),
});

/** Mutations of an encoding: flip a bit, truncate, append, splice random bytes in, or overwrite a byte. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.constantFrom('flip', 'truncate', 'append', 'splice', 'set'), fc.nat(), bytes)
    .map(([v, op, at, extra]) => {
      const b = Buffer.from(v);
      const i = b.length === 0 ? 0 : at % b.length;
      switch (op) {
        case 'flip':
          if (b.length > 0) b[i] = ((b[i] as number) ^ (1 << (at % 8))) & 0xff;
          return b;
        case 'truncate':
          return b.subarray(0, i);
        case 'append':
          return Buffer.concat([b, extra]);
        case 'splice':
          return Buffer.concat([b.subarray(0, i), extra, b.subarray(i)]);
        default:
          if (b.length > 0) b[i] = extra[0] ?? 0xff;
          return b;
      }
    });
}

/** decode() either returns a value or throws DuetError(ENVELOPE_DECODE): anything else fails the property. */
function decodesOrTypedError<T>(c: Codec<T>, b: Uint8Array): void {
  try {
    c.decode(b);
  } catch (err) {
    assert.ok(err instanceof DuetError, `not a DuetError: ${String(err)}`);
    assert.equal(err.code, ErrorCode.ENVELOPE_DECODE);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: one table over codecs of different envelope types
const CODECS: [string, Codec<any>, fc.Arbitrary<unknown>][] = [
  ['NodeBatch', NodeBatchCodec, nodeBatch],
  ['GateOps', GateOpsCodec, gateOps],
  ['Results', ResultsCodec, results],
  ['Takeover', TakeoverCodec, takeover],
  ['TakeoverReply', TakeoverReplyCodec, takeoverReply],
  ['Transition', TransitionCodec, transition],
];

for (const [name, codec, arb] of CODECS) {
  test(`envelope fuzz - ${name}: random bytes decode or throw DUET_ERR_ENVELOPE_DECODE`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => decodesOrTypedError(codec, b)),
      { numRuns: RUNS },
    );
  });

  test(`envelope fuzz - ${name}: mutated valid encodings decode or throw DUET_ERR_ENVELOPE_DECODE`, () => {
    const valid = arb.map((v) => codec.encode(v) as Uint8Array);
    fc.assert(
      fc.property(mutated(valid), (b) => decodesOrTypedError(codec, b)),
      { numRuns: RUNS },
    );
  });
}

test('envelope fuzz - a truncated envelope is rejected with the codec name in the message', () => {
  const full = NodeBatchCodec.encode({ gid: 'g', items: [{ deliver: { cid: 1, uid: 2, packet: new Uint8Array(9) } }] });
  assert.throws(
    () => NodeBatchCodec.decode(full.subarray(0, full.length - 3)),
    (err: unknown) =>
      err instanceof DuetError && err.code === ErrorCode.ENVELOPE_DECODE && /NodeBatch/.test(err.message),
  );
});

describe('envelope fuzz - node inbound', () => {
  const escaped: unknown[] = [];
  const onEscape = (err: unknown): void => {
    escaped.push(err);
  };
  before(() => {
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
  });
  after(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });

  test('envelope fuzz - garbage on a node subject is counted in badPackets and the node keeps answering', async (t) => {
    const failures: string[] = [];
    const report = (err: unknown, context: string): void => {
      failures.push(`${context}: ${err instanceof Error ? err.stack : String(err)}`);
    };
    const bus = new MemoryBus();
    const locator = new MemoryLocator();
    const registry = new MemoryRegistry();
    const codec = new PacketCodec();
    const subjects = new Subjects('duet');
    const node = new Node({ id: 'fuzz-node', name: 'game', bus, locator, registry, codec, reportError: report });
    registerDiagnostics(node);
    await node.start();
    // This test is the gate: it reads what the node sends gate "fz".
    const ops = bus.subscribe(subjects.gateOp('fz'));
    const inbox: BusMessage[] = [];
    const reading = (async () => {
      for await (const m of ops) inbox.push(m);
    })();
    t.after(async () => {
      await ops.drain();
      await reading;
      await node.stop();
      await bus.drain();
      await locator[Symbol.asyncDispose]();
      await registry[Symbol.asyncDispose]();
    });

    // Garbage that fails to decode as a NodeBatch: counted, nothing else happens.
    const garbage = fc.sample(
      fc.uint8Array({ minLength: 1, maxLength: 200 }).filter((b) => {
        try {
          NodeBatchCodec.decode(b);
          return false;
        } catch {
          return true;
        }
      }),
      { numRuns: Math.min(RUNS, 2000), seed: 10 },
    );
    const before = node.counters.badPackets;
    for (const b of garbage) {
      bus.publish(subjects.nodeDeliver(node.id), b);
      bus.publish(subjects.nodeEvent(node.id), b);
    }
    // Envelopes that decode but carry junk client packets or random events and moves: must not throw either.
    const junk = fc.sample(mutated(nodeBatch.map((v) => NodeBatchCodec.encode(v))), {
      numRuns: Math.min(RUNS, 2000),
      seed: 11,
    });
    for (const b of junk) bus.publish(subjects.nodeDeliver(node.id), b);

    const deadline = Date.now() + 5000;
    while (node.counters.badPackets - before < garbage.length * 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(
      node.counters.badPackets - before >= garbage.length * 2,
      `badPackets moved by ${node.counters.badPackets - before}, expected at least ${garbage.length * 2}`,
    );

    // Then a real delivery: an echo request from "gate fz" is answered on that gate's op subject.
    const packet = codec.encode({ route: 1, seq: 5, body: new TextEncoder().encode('after garbage') });
    bus.publish(
      subjects.nodeDeliver(node.id),
      NodeBatchCodec.encode({ gid: 'fz', items: [{ deliver: { cid: 42, uid: 0, packet } }] }),
    );
    const echoed = (): boolean =>
      inbox.some((m) =>
        GateOpsCodec.decode(m.data).ops.some((op) => {
          const p = op.push?.packet;
          return p !== undefined && Buffer.from(p).equals(Buffer.from(packet)) && op.push?.target === 42;
        }),
      );
    const until = Date.now() + 3000;
    while (!echoed() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.ok(echoed(), `no echo for cid 42 among ${inbox.length} op envelopes`);
    assert.deepEqual(escaped, []);
    assert.deepEqual(failures, []);
  });
});
