import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { BusTraceSink, createTraceSink } from '../../src/trace/bus-trace-sink.js';
import { nullTraceSink, type TransitionRecord } from '../../src/trace/trace.js';
import { formatTransition, TraceStream, type TraceStreamOptions } from '../../src/trace/trace-stream.js';
import { until } from '../harness/embedded.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';
import { startDiagnosticCluster } from '../helpers/diagnostic-cluster.js';

/** The trace stream (issue 7): session transitions published on the bus by the gate, read back filtered. */

const PREFIX = 'duet';

/** Reads a stream into an array in the background; the stream is closed when the test ends. */
async function collect(t: TestContext, o: TraceStreamOptions): Promise<TransitionRecord[]> {
  const stream = await TraceStream.open(o);
  const got: TransitionRecord[] = [];
  const done = (async () => {
    for await (const r of stream) got.push(r);
  })();
  t.after(async () => {
    await stream.close();
    await done;
  });
  return got;
}

/** Two clients log in as `uid` one after the other: the first is displaced. Returns the clients. */
async function kickScenario(t: TestContext, url: string, uid: number): Promise<[WsTestClient, WsTestClient]> {
  const a = await connect(url);
  t.after(() => a[Symbol.asyncDispose]());
  assert.equal((await a.request(2, String(uid))).text, String(uid));
  const b = await connect(url);
  t.after(() => b[Symbol.asyncDispose]());
  assert.equal((await b.request(2, String(uid))).text, String(uid));
  assert.equal((await a.waitClose()).code, 4003);
  return [a, b];
}

const steps = (rs: TransitionRecord[], cid: number): string[] =>
  rs.filter((r) => r.cid === cid).map((r) => `${r.from}→${r.to} ${r.event}`);

const KICKED = [
  'handshake→active.unbound session.opened',
  'active.unbound→active.bound node.bound',
  'active.bound→closing session.displaced',
  'closing→closed socket.closed',
];

describe('trace stream - a gate with a BusTraceSink on the memory bus', () => {
  it('trace stream - connect → bind → displaced → closed arrive in order within 1 s', async (t) => {
    const bus = new MemoryBus();
    const c = await startDiagnosticCluster({ bus, trace: new BusTraceSink({ bus, prefix: PREFIX }) });
    t.after(async () => {
      await c[Symbol.asyncDispose]();
      await bus.drain();
    });
    const got = await collect(t, { bus, prefix: PREFIX });
    const started = Date.now();
    await kickScenario(t, c.url, 501);
    await until(() => steps(got, 1).length >= 4, 'the kicked session reaches closed', 1000);
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual(steps(got, 1), KICKED);
    const kicked = got.filter((r) => r.cid === 1);
    assert.ok(kicked.every((r) => r.gate === 'gate-1'));
    assert.equal(kicked[1]?.uid, 501, 'the bind record carries the uid');
    assert.match(kicked[2]?.reason ?? '', /uid bound again by cid 2/);
    for (let i = 1; i < kicked.length; i++) assert.ok((kicked[i]?.ts ?? 0) >= (kicked[i - 1]?.ts ?? 0));
    assert.match(
      formatTransition(kicked[2] as TransitionRecord),
      /^\d{4}-\d\d-\d\dT[\d:.]+Z gate-1 cid=1 uid=\d+ active\.bound → closing session\.displaced \(uid bound again by cid 2\)$/,
    );
  });

  it('trace stream - uid, cid and gate filters follow whole sessions', async (t) => {
    const bus = new MemoryBus();
    const c = await startDiagnosticCluster({ bus, trace: new BusTraceSink({ bus, prefix: PREFIX }) });
    t.after(async () => {
      await c[Symbol.asyncDispose]();
      await bus.drain();
    });
    const byUid = await collect(t, { bus, prefix: PREFIX, uid: 602 });
    const byCid = await collect(t, { bus, prefix: PREFIX, cid: 2 });
    const otherGate = await collect(t, { bus, prefix: PREFIX, gate: 'gate-2' });
    const all = await collect(t, { bus, prefix: PREFIX });
    // cid 1 and 2 are uid 601 (2 displaces 1); cid 3 and 4 are uid 602 (4 displaces 3).
    await kickScenario(t, c.url, 601);
    const [, last] = await kickScenario(t, c.url, 602);
    await last.close();
    await until(() => all.filter((r) => r.to === 'closed').length >= 3, 'sessions 1, 3 and 4 closed');
    await until(() => byUid.filter((r) => r.to === 'closed').length >= 2, 'uid 602 sessions closed');
    assert.deepEqual([...new Set(byUid.map((r) => r.cid))], [3, 4], 'only uid 602 sessions');
    assert.deepEqual(steps(byUid, 3), KICKED, 'the connect record, sent with uid 0, is held until the bind');
    assert.deepEqual(steps(byUid, 4), [...KICKED.slice(0, 2), 'active.bound→closed socket.closed']);
    assert.deepEqual(
      byCid.map((r) => r.cid),
      all.filter((r) => r.cid === 2).map((r) => r.cid),
    );
    assert.ok(byCid.length >= 2);
    assert.equal(otherGate.length, 0, 'no records from gate-1 on the gate-2 stream');
  });

  it('trace stream - a sink filtering by uid publishes only that user, and sample 0 or disabled publishes nothing', async (t) => {
    const bus = new MemoryBus();
    t.after(() => bus.drain());
    const sink = new BusTraceSink({ bus, prefix: PREFIX, uid: 702 });
    const c = await startDiagnosticCluster({ bus, trace: sink });
    t.after(() => c[Symbol.asyncDispose]());
    const all = await collect(t, { bus, prefix: PREFIX });
    await kickScenario(t, c.url, 701);
    await kickScenario(t, c.url, 702);
    await until(() => all.some((r) => r.cid === 3 && r.to === 'closed'), 'uid 702 first session closed');
    assert.deepEqual([...new Set(all.map((r) => r.cid))], [3, 4]);
    assert.deepEqual(steps(all, 3), KICKED);

    assert.equal(createTraceSink(bus, { enabled: false, sample: 1, uid: 0, cid: 0 }), nullTraceSink);
    assert.equal(createTraceSink(bus, { enabled: true, sample: 0, uid: 0, cid: 0 }), nullTraceSink);
  });

  it('trace stream - with the sink disabled the gate publishes nothing', async (t) => {
    const bus = new MemoryBus();
    t.after(() => bus.drain());
    const trace = createTraceSink(bus, { enabled: false, sample: 1, uid: 0, cid: 0 });
    const c = await startDiagnosticCluster({ bus, trace });
    t.after(() => c[Symbol.asyncDispose]());
    const all = await collect(t, { bus, prefix: PREFIX });
    await kickScenario(t, c.url, 801);
    // A sentinel published after the scenario: once it is read, anything the gate published would be read too.
    const sentinel = new BusTraceSink({ bus, prefix: PREFIX });
    sentinel.record({ ts: 1, gate: 'sentinel', cid: 9, uid: 0, from: 'a', to: 'b', event: 'e', reason: '' });
    await until(() => all.length > 0, 'the sentinel');
    assert.deepEqual(
      all.map((r) => r.gate),
      ['sentinel'],
    );
  });
});
