import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher, batchMessage } from '../../src/bus/batcher.js';
import type { BusMessage } from '../../src/bus/bus.js';
import { type GateOp, GateOpsCodec, ResultsCodec } from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import { DuetError, ErrorCode } from '../../src/errors.js';
import { silentLog } from '../../src/log/types.js';
import { GateLink } from '../../src/node/gate-link.js';

const LIMIT = 4096;

/** Everything published on `subject` until `n` messages or 1 s. */
async function take(bus: MemoryBus, subject: string, n: number): Promise<BusMessage[]> {
  const out: BusMessage[] = [];
  const sub = bus.subscribe(subject);
  const timer = setTimeout(() => void sub.drain(), 1000);
  for await (const m of sub) {
    out.push(m);
    if (out.length >= n) break;
  }
  clearTimeout(timer);
  return out;
}

function opsBatcher(bus: MemoryBus, dropped: { ops: GateOp[]; err: DuetError }[]) {
  return new Batcher<GateOp>({
    bus,
    encode: (ops, key) => batchMessage(key, { nid: 'n', reply: 'r', ops }, GateOpsCodec),
    onDropped: (ops, _key, err) => dropped.push({ ops, err }),
  });
}

const push = (id: number, bytes: number): GateOp => ({
  id,
  push: { kind: 1, target: id, packet: new Uint8Array(bytes).fill(id % 251), disconnect: false },
});

test('batcher - a batch over the bus maxPayload is split by its encoded size, order kept, nothing lost', async () => {
  const bus = new MemoryBus({ maxPayload: LIMIT });
  const dropped: { ops: GateOp[]; err: DuetError }[] = [];
  const b = opsBatcher(bus, dropped);
  const got = take(bus, 'g.op', 100);
  // Estimates of 1 byte: only the encoded check can keep these under the limit.
  for (let i = 1; i <= 40; i++) b.add('g.op', push(i, 500), 1);
  b.flush();
  const msgs = await got;
  await bus.drain();
  assert.deepEqual(dropped, []);
  assert.ok(msgs.length >= 5, `40 × 500 B over a 4 KiB limit needs at least 5 messages, got ${msgs.length}`);
  for (const m of msgs) assert.ok(m.data.byteLength <= LIMIT, `${m.data.byteLength} B over the limit`);
  const ids = msgs.flatMap((m) => GateOpsCodec.decode(m.data).ops.map((o) => o.id));
  assert.deepEqual(
    ids,
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
  assert.ok(b.splits > 0);
});

test('batcher - one item larger than maxPayload alone is refused with BUS_PAYLOAD_TOO_LARGE; its neighbours go', async () => {
  const bus = new MemoryBus({ maxPayload: LIMIT });
  const dropped: { ops: GateOp[]; err: DuetError }[] = [];
  const b = opsBatcher(bus, dropped);
  const got = take(bus, 'g.op', 100);
  b.add('g.op', push(1, 100), 1);
  b.add('g.op', push(2, LIMIT + 1), 1);
  b.add('g.op', push(3, 100), 1);
  b.flush();
  const msgs = await got;
  await bus.drain();
  assert.equal(dropped.length, 1);
  assert.deepEqual(
    dropped[0]?.ops.map((o) => o.id),
    [2],
  );
  assert.equal(dropped[0]?.err.code, ErrorCode.BUS_PAYLOAD_TOO_LARGE);
  assert.equal(b.dropped, 1);
  const ids = msgs.flatMap((m) => GateOpsCodec.decode(m.data).ops.map((o) => o.id));
  assert.deepEqual(ids, [1, 3]);
});

test('batcher - a publish on a closed bus goes to onDropped with ClosedError', async () => {
  const bus = new MemoryBus();
  await bus.drain();
  const dropped: { ops: GateOp[]; err: DuetError }[] = [];
  const b = opsBatcher(bus, dropped);
  b.add('g.op', push(1, 10), 10);
  b.flush();
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]?.err.code, ErrorCode.CLOSED);
});

test('gate link - an acked op too large for the bus rejects with the typed error, reported once', async () => {
  const bus = new MemoryBus({ maxPayload: LIMIT });
  const reports: { err: unknown; context: string }[] = [];
  const subjects = new Subjects('t');
  const link = new GateLink(bus, subjects, 'n1', 2000, silentLog, GateOpsCodec, (err, context) =>
    reports.push({ err, context }),
  );
  link.start();
  // A gate that answers every acked op OK, to show the small op is still served.
  const ops = bus.subscribe(subjects.gateOp('g1'));
  void (async () => {
    for await (const m of ops) {
      const batch = GateOpsCodec.decode(m.data);
      const results = batch.ops
        .filter((o) => o.id !== 0)
        .map((o) => ({ id: o.id, code: 0, message: '', total: 1, online: false, ip: '', gid: 'g1' }));
      bus.publish(batch.reply, ResultsCodec.encode({ results }));
    }
  })();
  const big = link.call('g1', { push: { kind: 1, target: 1, packet: new Uint8Array(LIMIT * 2), disconnect: false } });
  const small = link.call('g1', { push: { kind: 1, target: 2, packet: new Uint8Array(10), disconnect: false } });
  await assert.rejects(big, (err: unknown) => err instanceof DuetError && err.code === ErrorCode.BUS_PAYLOAD_TOO_LARGE);
  assert.equal((await small).total, 1);
  assert.equal(reports.length, 1);
  assert.equal(reports[0]?.context, 'bus publish: gate ops');
  assert.match(String(reports[0]?.err), /1 gate ops to gate g1 \(1 awaited\) lost/);
  assert.equal(link.pendingCount, 0);
  await link.close();
  await ops.drain();
  await bus.drain();
});
