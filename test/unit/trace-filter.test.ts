import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { BusTraceSink } from '../../src/trace/bus-trace-sink.js';
import { SessionFilter } from '../../src/trace/session-filter.js';
import type { TransitionRecord } from '../../src/trace/trace.js';

/** Trace filters: whole sessions by uid (connect records held until the bind), cid, gate; per-session sampling. */

const rec = (gate: string, cid: number, uid: number, from: string, to: string): TransitionRecord => ({
  ts: 0,
  gate,
  cid,
  uid,
  from,
  to,
  event: 'e',
  reason: '',
});

test('trace filter - uid: held connect records are released before the bind, then the session is followed', () => {
  const f = new SessionFilter({ uid: 5 });
  assert.deepEqual(f.accept(rec('g', 1, 0, 'handshake', 'active.unbound')), []);
  assert.deepEqual(f.accept(rec('g', 2, 0, 'handshake', 'active.unbound')), []);
  const bound = f.accept(rec('g', 1, 5, 'active.unbound', 'active.bound'));
  assert.deepEqual(
    bound.map((r) => r.to),
    ['active.unbound', 'active.bound'],
  );
  // uid is 0 again after the release, but the session is followed until closed.
  assert.equal(f.accept(rec('g', 1, 0, 'active.bound', 'closing')).length, 1);
  assert.equal(f.accept(rec('g', 1, 0, 'closing', 'closed')).length, 1);
  assert.equal(f.accept(rec('g', 1, 0, 'x', 'y')).length, 0, 'forgotten after closed');
  // cid 2 binds another user: nothing of it passes, ever.
  assert.deepEqual(f.accept(rec('g', 2, 6, 'active.unbound', 'active.bound')), []);
  assert.deepEqual(f.accept(rec('g', 2, 0, 'active.bound', 'closed')), []);
  // The same cid on another gate is another session.
  assert.deepEqual(f.accept(rec('h', 1, 0, 'handshake', 'active.unbound')), []);
  assert.equal(f.accept(rec('h', 1, 5, 'active.unbound', 'active.bound')).length, 2);
});

test('trace filter - cid and gate filters, and no filter passes everything', () => {
  const open = new SessionFilter();
  assert.ok(open.isOpen);
  assert.equal(open.accept(rec('g', 1, 0, 'a', 'b')).length, 1);
  const f = new SessionFilter({ cid: 3, gate: 'g' });
  assert.equal(f.isOpen, false);
  assert.equal(f.accept(rec('g', 3, 0, 'a', 'b')).length, 1);
  assert.equal(f.accept(rec('g', 4, 0, 'a', 'b')).length, 0);
  assert.equal(f.accept(rec('h', 3, 0, 'a', 'b')).length, 0);
});

test('trace filter - sessions waiting for a bind are bounded, oldest forgotten first', () => {
  const f = new SessionFilter({ uid: 5, maxPendingSessions: 2 });
  for (const cid of [1, 2, 3]) f.accept(rec('g', cid, 0, 'handshake', 'active.unbound'));
  assert.equal(f.accept(rec('g', 1, 5, 'active.unbound', 'active.bound')).length, 1, 'cid 1 was evicted');
  assert.equal(f.accept(rec('g', 3, 5, 'active.unbound', 'active.bound')).length, 2);
});

test('trace sink - sampling is per connection, stable, and close to the configured fraction', () => {
  const bus = new MemoryBus();
  const half = new BusTraceSink({ bus, sample: 0.5, sampleSeed: 42 });
  const other = new BusTraceSink({ bus, sample: 0.5, sampleSeed: 7 });
  let kept = 0;
  let differs = 0;
  for (let cid = 1; cid <= 10_000; cid++) {
    const s = half.isSampled(cid);
    assert.equal(half.isSampled(cid), s);
    if (s) kept++;
    if (s !== other.isSampled(cid)) differs++;
  }
  assert.ok(kept > 4700 && kept < 5300, `${kept} of 10000 sampled at 0.5`);
  assert.ok(differs > 3000, 'another seed samples other connections');
  const all = new BusTraceSink({ bus, sample: 1 });
  for (let cid = 1; cid <= 1000; cid++) assert.ok(all.isSampled(cid));
  assert.equal(new BusTraceSink({ bus, sample: 0 }).enabled, false);
  assert.equal(new BusTraceSink({ bus, enabled: false }).enabled, false);
  assert.throws(() => new BusTraceSink({ bus, sample: 1.5 }), /trace.sample must be in \[0, 1\], got 1.5/);
});
