import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocateCache } from '../../src/locate/locate-cache.js';
import { type LocateEvent, LocateEventType } from '../../src/locate/locator.js';
import { encodeEvent, parseEvent } from '../../src/locate/redis-layout.js';

/**
 * The Redis locator's cache without Redis: the races a real server rarely shows (an event or a reconnect landing
 * while a read is in flight) driven by hand with deferred reads.
 */

function deferred(): { promise: Promise<string | null>; resolve: (v: string | null) => void } {
  let resolve!: (v: string | null) => void;
  const promise = new Promise<string | null>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const bindGate = (uid: number, gid: string): LocateEvent => ({
  uid,
  type: LocateEventType.BIND_GATE,
  insID: gid,
  insKind: 'gate',
  insName: '',
});

function liveCache(maxUsers?: number): LocateCache {
  const c = new LocateCache(maxUsers);
  c.live = true;
  return c;
}

describe('locate cache', () => {
  it('locate cache - concurrent loads of one key share one read', async () => {
    const c = liveCache();
    const d = deferred();
    let reads = 0;
    const read = (): Promise<string | null> => {
      reads++;
      return d.promise;
    };
    const all = [c.loadGate(1, read), c.loadGate(1, read), c.loadGate(1, read)];
    d.resolve('g1');
    assert.deepEqual(await Promise.all(all), ['g1', 'g1', 'g1']);
    assert.equal(reads, 1);
    assert.equal(c.gate(1), 'g1');
    assert.deepEqual({ misses: c.stats.misses, reads: c.stats.reads }, { misses: 3, reads: 1 });
  });

  it('locate cache - an event during a read wins over the read result', async () => {
    const c = liveCache();
    const d = deferred();
    const p = c.loadGate(1, () => d.promise);
    c.apply(bindGate(1, 'g-new'));
    d.resolve('g-old');
    assert.equal(await p, 'g-old', 'the caller still gets what it read');
    assert.equal(c.gate(1), 'g-new', 'the late read must not overwrite the newer event');
  });

  it('locate cache - a load after an event does not join the stale read', async () => {
    const c = liveCache();
    c.live = false; // events are not cached, so the second load must read again
    const old = deferred();
    const fresh = deferred();
    const first = c.loadGate(1, () => old.promise);
    c.apply(bindGate(1, 'g-new'));
    const second = c.loadGate(1, () => fresh.promise);
    fresh.resolve('g-new');
    old.resolve('g-old');
    assert.equal(await second, 'g-new');
    assert.equal(await first, 'g-old');
    assert.equal(c.stats.reads, 2);
  });

  it('locate cache - a drop during a read keeps the result out of the cache', async () => {
    const c = liveCache();
    const d = deferred();
    const p = c.loadNode(1, 'game', () => d.promise);
    c.drop();
    d.resolve('n-old');
    await p;
    assert.equal(c.node(1, 'game'), undefined);
  });

  it('locate cache - nothing is stored while not live, and drop empties everything', async () => {
    const c = new LocateCache();
    await c.loadGate(1, async () => 'g1');
    c.apply(bindGate(2, 'g2'));
    assert.equal(c.gate(1), undefined);
    assert.equal(c.gate(2), undefined);
    c.live = true;
    await c.loadGate(1, async () => null);
    await c.loadNode(1, 'game', async () => 'n1');
    assert.equal(c.gate(1), null, 'a known-unbound uid is cached as null');
    assert.equal(c.node(1, 'game'), 'n1');
    c.drop();
    assert.equal(c.size, 0);
  });

  it('locate cache - unbind events cache the absence; forget removes one entry', () => {
    const c = liveCache();
    c.apply(bindGate(1, 'g1'));
    c.apply({ uid: 1, type: LocateEventType.UNBIND_GATE, insID: 'g1', insKind: 'gate', insName: '' });
    assert.equal(c.gate(1), null);
    c.apply({ uid: 1, type: LocateEventType.BIND_NODE, insID: 'n1', insKind: 'node', insName: 'game' });
    c.apply({ uid: 1, type: LocateEventType.BIND_NODE, insID: 'n2', insKind: 'node', insName: 'chat' });
    c.forgetNode(1, 'game');
    assert.equal(c.node(1, 'game'), undefined);
    assert.equal(c.node(1, 'chat'), 'n2');
  });

  it('locate cache - the oldest users are evicted past the bound', () => {
    const c = liveCache(3);
    for (let uid = 1; uid <= 5; uid++) c.apply(bindGate(uid, `g${uid}`));
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((u) => c.gate(u)),
      [undefined, undefined, 'g3', 'g4', 'g5'],
    );
  });
});

describe('redis layout - event codec', () => {
  it('redis layout - encodeEvent writes due field order and parseEvent reads it back', () => {
    const e: LocateEvent = { insName: 'game', insKind: 'node', insID: 'n', type: 2, uid: -3 };
    const text = encodeEvent(e);
    assert.equal(text, '{"uid":-3,"type":2,"insID":"n","insKind":"node","insName":"game"}');
    assert.deepEqual(parseEvent(text, 'node'), { uid: -3, type: 2, insID: 'n', insKind: 'node', insName: 'game' });
  });

  it('redis layout - parseEvent refuses malformed and mismatched events', () => {
    const bad = [
      '',
      'null',
      '[]',
      '{"uid":"1","type":1,"insID":"g","insKind":"gate","insName":""}',
      '{"uid":9007199254740993,"type":1,"insID":"g","insKind":"gate","insName":""}',
      '{"uid":1,"type":2,"insID":"g","insKind":"gate","insName":""}',
      '{"uid":1,"type":5,"insID":"g","insKind":"gate","insName":""}',
      '{"uid":1,"type":1,"insID":7,"insKind":"gate","insName":""}',
      '{"uid":1,"type":1,"insID":"g","insKind":"node","insName":""}',
    ];
    for (const text of bad) assert.equal(parseEvent(text, 'gate'), undefined, text);
    // insName missing is accepted as "" (older writers).
    assert.deepEqual(parseEvent('{"uid":1,"type":3,"insID":"g","insKind":"gate"}', 'gate'), {
      uid: 1,
      type: 3,
      insID: 'g',
      insKind: 'gate',
      insName: '',
    });
  });
});
