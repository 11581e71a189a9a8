/**
 * The gate side of on-demand tracing (src/trace/trace-leases.ts) on the in-process bus: off without a lease, a
 * lease's filter, renewals, lapse and release, and control messages naming a reply outside the admin subjects.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodeJson } from '../../src/admin/replies.js';
import { TransitionCodec } from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import { MemoryTraceSink, type TransitionRecord } from '../../src/trace/trace.js';
import { TraceLeases } from '../../src/trace/trace-leases.js';

const subjects = new Subjects('duet');
const rec = (cid: number, uid: number, to = 'active.bound'): TransitionRecord => ({
  ts: 1,
  gate: 'g1',
  cid,
  uid,
  from: 'x',
  to,
  event: 'e',
  reason: '',
});

describe('trace leases - the gate side of duet trace', () => {
  const bus = new MemoryBus();
  after(() => bus.drain());
  let clock = 1_000;

  async function setup(always?: MemoryTraceSink) {
    const leases = new TraceLeases({ bus, gid: 'g1', always, now: () => clock });
    await leases.start();
    const published: number[] = [];
    const answers: Record<string, unknown>[] = [];
    const traceSub = bus.subscribe(subjects.trace('g1'));
    const replySub = bus.subscribe('duet.admin.reply.t1');
    void (async () => {
      for await (const m of traceSub) published.push(TransitionCodec.decode(m.data).uid);
    })();
    void (async () => {
      for await (const m of replySub) answers.push(JSON.parse(new TextDecoder().decode(m.data)));
    })();
    const control = async (body: Record<string, unknown>): Promise<void> => {
      bus.publish(
        subjects.traceControl(),
        encodeJson({ lease: 'L1', ttlMs: 1000, reply: 'duet.admin.reply.t1', ...body }),
      );
      await new Promise((r) => setImmediate(r));
    };
    const tick = () => new Promise((r) => setImmediate(r));
    const close = async () => {
      await leases.close();
      await traceSub.drain();
      await replySub.drain();
    };
    return { leases, published, answers, control, tick, close };
  }

  it('trace leases - off without a lease; a uid lease publishes that user only; it lapses unrenewed', async () => {
    const t = await setup();
    assert.equal(t.leases.enabled, false);
    await t.control({ uid: 7 });
    assert.equal(t.leases.enabled, true);
    assert.deepEqual(
      t.answers.map((a) => a.gate),
      ['g1'],
    );
    t.leases.record(rec(1, 7));
    t.leases.record(rec(2, 8));
    await t.tick();
    assert.deepEqual(t.published, [7]);
    clock += 900;
    await t.control({ uid: 7 }); // renewal
    clock += 900;
    // Renewed 900 ms ago (lease 1000 ms): still held.
    assert.equal(t.leases.leaseCount, 1);
    clock += 200;
    await new Promise((r) => setTimeout(r, 300)); // the sweep runs every quarter lease (250 ms)
    assert.equal(t.leases.leaseCount, 0);
    assert.equal(t.leases.enabled, false);
    await t.close();
  });

  it('trace leases - a release drops the lease at once; a reply outside the admin subjects is refused', async () => {
    const t = await setup();
    await t.control({});
    assert.equal(t.leases.leaseCount, 1);
    await t.control({ release: true });
    assert.equal(t.leases.leaseCount, 0);
    assert.equal(t.leases.enabled, false);
    await t.control({ reply: 'duet.gate.g2.op' });
    assert.equal(t.leases.leaseCount, 0);
    assert.equal(t.leases.rejected, 1);
    await t.control({ gate: 'other-gate' });
    assert.equal(t.leases.leaseCount, 0, 'a lease for another gate is not taken');
    await t.close();
  });

  it('trace leases - with [trace] enabled the always-on sink gets everything and leases publish nothing more', async () => {
    const always = new MemoryTraceSink();
    const t = await setup(always);
    assert.equal(t.leases.enabled, true);
    await t.control({ uid: 7 });
    assert.equal(t.answers[0]?.alwaysOn, true);
    t.leases.record(rec(1, 7));
    t.leases.record(rec(2, 8));
    await t.tick();
    assert.equal(always.records.length, 2);
    assert.deepEqual(t.published, []);
    await t.close();
  });
});
