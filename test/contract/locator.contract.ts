import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import { type LocateEvent, LocateEventType, type Locator } from '../../src/locate/locator.js';

/**
 * The behaviour every Locator must share (docs/contributing.md), run against MemoryLocator and RedisLocator.
 * `make` returns a fresh, ready locator with a namespace of its own (the Redis one: a unique key prefix), so
 * tests and files can run in parallel; each test disposes what it made.
 */
export type MakeLocator = () => Promise<Locator>;

/** A locator on a store of its own that the test may restart empty (Redis: kill and start the server again). */
export type MakeRestartable = () => Promise<{ locator: Locator; restart(): Promise<void>; dispose(): Promise<void> }>;

const EVENT_WAIT_MS = 5_000;

async function fresh(t: TestContext, make: MakeLocator): Promise<Locator> {
  const loc = await make();
  t.after(() => loc[Symbol.asyncDispose]());
  return loc;
}

/** Reads the next item, failing after `ms` instead of hanging the test. */
async function nextWithin<T>(it: AsyncIterator<T>, ms: number, what: string): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function take(it: AsyncIterator<LocateEvent>, n: number): Promise<LocateEvent[]> {
  const out: LocateEvent[] = [];
  while (out.length < n) {
    const r = await nextWithin(it, EVENT_WAIT_MS, `event ${out.length + 1} of ${n}`);
    assert.equal(r.done, false, `watch ended after ${out.length} of ${n} events`);
    out.push(r.value);
  }
  return out;
}

/** Plain copies, so deepEqual compares fields only (a frozen or class instance would still match). */
function plain(events: LocateEvent[]): LocateEvent[] {
  return events.map((e) => ({ uid: e.uid, type: e.type, insID: e.insID, insKind: e.insKind, insName: e.insName }));
}

function gateEvent(uid: number, type: LocateEventType, gid: string): LocateEvent {
  return { uid, type, insID: gid, insKind: 'gate', insName: '' };
}

function nodeEvent(uid: number, type: LocateEventType, name: string, nid: string): LocateEvent {
  return { uid, type, insID: nid, insKind: 'node', insName: name };
}

function isUidInvalid(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === ErrorCode.UID_INVALID;
}

/** Known failures of one implementation: the test runs as `todo` with this reason instead of failing the suite. */
export interface KnownIssues {
  /** Watches still open after dispose (several kinds, or started after dispose). */
  watchAfterDispose?: string;
}

export function locatorContract(
  name: string,
  make: MakeLocator,
  known: KnownIssues = {},
  restartable?: MakeRestartable,
): void {
  describe(`locator contract (${name})`, () => {
    it('locator - claimGate binds an unbound uid and otherwise answers the holder, without an event', async (t) => {
      const loc = await fresh(t, make);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const it = loc.watch(['gate', 'node'], ac.signal)[Symbol.asyncIterator]();
      assert.equal(await loc.claimGate(3001, 'g1'), 'g1');
      assert.equal(await loc.locateGate(3001), 'g1');
      assert.equal(await loc.claimGate(3001, 'g2'), 'g1', 'a claim never overwrites');
      assert.equal(await loc.locateGate(3001), 'g1');
      assert.equal(await loc.claimNode(3001, 'game', 'n1'), 'n1');
      assert.equal(await loc.claimNode(3001, 'game', 'n2'), 'n1');
      assert.equal(await loc.claimNode(3001, 'chat', 'n2'), 'n2', 'another node name is another field');
      assert.equal(await loc.locateNode(3001, 'game'), 'n1');
      await loc.bindGate(3002, 'marker');
      // The refused claims sent nothing: the next event after the three that took is the marker.
      assert.deepEqual(plain(await take(it, 4)), [
        gateEvent(3001, LocateEventType.BIND_GATE, 'g1'),
        nodeEvent(3001, LocateEventType.BIND_NODE, 'game', 'n1'),
        nodeEvent(3001, LocateEventType.BIND_NODE, 'chat', 'n2'),
        gateEvent(3002, LocateEventType.BIND_GATE, 'marker'),
      ]);
      await assert.rejects(loc.claimGate(Number.MAX_SAFE_INTEGER + 1, 'g'), isUidInvalid);
    });

    it(
      'locator - a restarted store runs the reconnect listeners, and claims then restore what was lost',
      restartable ? {} : { skip: 'no restartable store for this implementation' },
      async (t) => {
        const r = await (restartable as MakeRestartable)();
        t.after(() => r.dispose());
        const loc = r.locator;
        await loc.bindGate(4001, 'g1');
        await loc.bindNode(4001, 'game', 'n1');
        let calls = 0;
        const off = loc.onReconnect(() => calls++);
        let removedCalls = 0;
        const offRemoved = loc.onReconnect(() => removedCalls++);
        offRemoved();
        await r.restart();
        const deadline = Date.now() + 10_000;
        while (calls === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
        assert.equal(calls, 1, 'the listener ran once after the restart');
        assert.equal(removedCalls, 0, 'a removed listener does not run');
        assert.equal(await loc.locateGate(4001), undefined, 'the restart lost the binding');
        assert.equal(await loc.claimGate(4001, 'g1'), 'g1');
        assert.equal(await loc.claimNode(4001, 'game', 'n1'), 'n1');
        assert.equal(await loc.locateGate(4001), 'g1');
        assert.equal(await loc.locateNode(4001, 'game'), 'n1');
        off();
      },
    );

    it('locator - bindGate, locateGate and compare-and-delete unbindGate', async (t) => {
      const loc = await fresh(t, make);
      assert.equal(await loc.locateGate(1001), undefined);
      await loc.bindGate(1001, 'gate-a');
      assert.equal(await loc.locateGate(1001), 'gate-a');
      await loc.bindGate(1001, 'gate-b');
      assert.equal(await loc.locateGate(1001), 'gate-b', 'rebinding overwrites');
      await loc.unbindGate(1001, 'gate-a');
      assert.equal(await loc.locateGate(1001), 'gate-b', 'a stale gid must not remove the newer binding');
      await loc.unbindGate(1001, 'gate-b');
      assert.equal(await loc.locateGate(1001), undefined);
      await loc.unbindGate(1001, 'gate-b');
      assert.equal(await loc.locateGate(1001), undefined, 'unbinding an unbound uid is a no-op');
      assert.equal(await loc.locateGate(1002), undefined, 'other uids untouched');
    });

    it('locator - bindGate resolves with the gate the uid was bound to before', async (t) => {
      const loc = await fresh(t, make);
      assert.equal(await loc.bindGate(1003, 'gate-a'), undefined, 'first bind: no previous gate');
      assert.equal(await loc.bindGate(1003, 'gate-b'), 'gate-a');
      assert.equal(await loc.bindGate(1003, 'gate-b'), 'gate-b', 'rebinding the same gate reports it');
      await loc.unbindGate(1003, 'gate-b');
      assert.equal(await loc.bindGate(1003, 'gate-c'), undefined, 'after an unbind: none');
      const many = await Promise.all([1, 2, 3].map((i) => loc.bindGate(1004, `gate-${i}`)));
      assert.deepEqual(many, [undefined, 'gate-1', 'gate-2'], 'concurrent binds see each other in call order');
    });

    it('locator - bindNode keeps one nid per node name and unbindNode compares the nid', async (t) => {
      const loc = await fresh(t, make);
      assert.equal(await loc.locateNode(7, 'game'), undefined);
      await loc.bindNode(7, 'game', 'node-1');
      await loc.bindNode(7, 'chat', 'node-9');
      assert.equal(await loc.locateNode(7, 'game'), 'node-1');
      assert.equal(await loc.locateNode(7, 'chat'), 'node-9');
      assert.equal(await loc.locateNode(7, 'mail'), undefined);
      await loc.bindNode(7, 'game', 'node-2');
      assert.equal(await loc.locateNode(7, 'game'), 'node-2', 'rebinding a name overwrites');
      await loc.unbindNode(7, 'game', 'node-1');
      assert.equal(await loc.locateNode(7, 'game'), 'node-2', 'a stale nid must not remove the newer binding');
      await loc.unbindNode(7, 'chat', 'node-2');
      assert.equal(await loc.locateNode(7, 'chat'), 'node-9', 'the nid is compared per name');
      await loc.unbindNode(7, 'game', 'node-2');
      assert.equal(await loc.locateNode(7, 'game'), undefined);
      assert.equal(await loc.locateNode(7, 'chat'), 'node-9', 'other names of the uid stay bound');
      assert.equal(await loc.locateGate(7), undefined, 'node bindings do not bind a gate');
      assert.deepEqual(await loc.locateNodes(7), { chat: 'node-9' });
      await loc.bindNode(7, 'game', 'node-3');
      assert.deepEqual(await loc.locateNodes(7), { chat: 'node-9', game: 'node-3' });
      assert.deepEqual(await loc.locateNodes(8), {});
    });

    it('locator - gate and node bindings are independent', async (t) => {
      const loc = await fresh(t, make);
      await loc.bindGate(42, 'g1');
      await loc.bindNode(42, 'game', 'n1');
      await loc.unbindGate(42, 'g1');
      assert.equal(await loc.locateNode(42, 'game'), 'n1');
      await loc.bindGate(42, 'g2');
      await loc.unbindNode(42, 'game', 'n1');
      assert.equal(await loc.locateGate(42), 'g2');
    });

    it('locator - negative and large safe uids are distinct keys', async (t) => {
      const loc = await fresh(t, make);
      const uids = [-1, 1, -(2 ** 53 - 1), 2 ** 53 - 1, 2 ** 53 - 2, 1_000_000_007];
      for (const uid of uids) await loc.bindGate(uid, `g${uid}`);
      for (const uid of uids) await loc.bindNode(uid, 'game', `n${uid}`);
      for (const uid of uids) {
        assert.equal(await loc.locateGate(uid), `g${uid}`);
        assert.equal(await loc.locateNode(uid, 'game'), `n${uid}`);
      }
      await loc.unbindGate(-1, 'g-1');
      assert.equal(await loc.locateGate(-1), undefined);
      assert.equal(await loc.locateGate(1), 'g1');
    });

    it('locator - a uid that is not a safe integer is rejected with DUET_ERR_UID_INVALID', async (t) => {
      const loc = await fresh(t, make);
      for (const uid of [1.5, 2 ** 60, -(2 ** 53), Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(loc.bindGate(uid, 'g'), isUidInvalid, `bindGate(${uid})`);
        await assert.rejects(loc.unbindGate(uid, 'g'), isUidInvalid, `unbindGate(${uid})`);
        await assert.rejects(loc.bindNode(uid, 'game', 'n'), isUidInvalid, `bindNode(${uid})`);
        await assert.rejects(loc.unbindNode(uid, 'game', 'n'), isUidInvalid, `unbindNode(${uid})`);
        await assert.rejects(loc.locateGate(uid), isUidInvalid, `locateGate(${uid})`);
        await assert.rejects(loc.locateNode(uid, 'game'), isUidInvalid, `locateNode(${uid})`);
      }
    });

    it('locator - watchers get every change in order with due types and fields, and none for a refused unbind', async (t) => {
      const loc = await fresh(t, make);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const it = loc.watch(['gate', 'node'], ac.signal)[Symbol.asyncIterator]();
      await loc.bindGate(1001, 'g1');
      await loc.bindNode(1001, 'game', 'n1');
      await loc.unbindNode(1001, 'game', 'n-stale');
      await loc.unbindGate(1001, 'g-stale');
      await loc.bindNode(1001, 'game', 'n2');
      await loc.unbindNode(1001, 'game', 'n2');
      await loc.unbindGate(1001, 'g1');
      const got = plain(await take(it, 5));
      assert.deepEqual(got, [
        gateEvent(1001, LocateEventType.BIND_GATE, 'g1'),
        nodeEvent(1001, LocateEventType.BIND_NODE, 'game', 'n1'),
        nodeEvent(1001, LocateEventType.BIND_NODE, 'game', 'n2'),
        nodeEvent(1001, LocateEventType.UNBIND_NODE, 'game', 'n2'),
        gateEvent(1001, LocateEventType.UNBIND_GATE, 'g1'),
      ]);
      // due's numeric types on the wire: 1 bind gate, 2 bind node, 3 unbind gate, 4 unbind node.
      assert.deepEqual(
        got.map((e) => e.type),
        [1, 2, 2, 4, 3],
      );
    });

    it('locator - a watcher gets only the kinds it asked for, and every watcher gets them', async (t) => {
      const loc = await fresh(t, make);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const nodes = loc.watch(['node'], ac.signal)[Symbol.asyncIterator]();
      const gates = loc.watch(['gate'], ac.signal)[Symbol.asyncIterator]();
      const both = loc.watch(['gate', 'node'], ac.signal)[Symbol.asyncIterator]();
      await loc.bindGate(5, 'g5');
      await loc.bindNode(5, 'game', 'n5');
      await loc.unbindGate(5, 'g5');
      assert.deepEqual(plain(await take(nodes, 1)), [nodeEvent(5, LocateEventType.BIND_NODE, 'game', 'n5')]);
      assert.deepEqual(plain(await take(gates, 2)), [
        gateEvent(5, LocateEventType.BIND_GATE, 'g5'),
        gateEvent(5, LocateEventType.UNBIND_GATE, 'g5'),
      ]);
      assert.equal((await take(both, 3)).length, 3);
    });

    it('locator - watch ends when its signal aborts, after the events already delivered', async (t) => {
      const loc = await fresh(t, make);
      const ac = new AbortController();
      const seen: LocateEvent[] = [];
      const loop = (async () => {
        for await (const e of loc.watch(['gate'], ac.signal)) {
          seen.push(e);
          if (seen.length === 1) ac.abort();
        }
        return 'ended';
      })();
      await loc.bindGate(9, 'g9');
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        loop,
        new Promise<string>((r) => {
          timer = setTimeout(() => r('still running'), EVENT_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      assert.equal(result, 'ended');
      assert.deepEqual(plain(seen), [gateEvent(9, LocateEventType.BIND_GATE, 'g9')]);

      const pre = new AbortController();
      pre.abort();
      const done = await nextWithin(loc.watch(['gate', 'node'], pre.signal)[Symbol.asyncIterator](), 1_000, 'end');
      assert.equal(done.done, true, 'a watch with an aborted signal ends at once');
    });

    it('locator - breaking out of a watch loop stops it without disturbing other watchers', async (t) => {
      const loc = await fresh(t, make);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const other = loc.watch(['gate'], ac.signal)[Symbol.asyncIterator]();
      const first = loc.watch(['gate'], ac.signal)[Symbol.asyncIterator]();
      await loc.bindGate(3, 'g3');
      assert.equal((await take(first, 1))[0]?.insID, 'g3');
      await first.return?.();
      await loc.bindGate(3, 'g4');
      assert.deepEqual(
        (await take(other, 2)).map((e) => e.insID),
        ['g3', 'g4'],
      );
    });

    it('locator - many uids bound concurrently are all located', async (t) => {
      const loc = await fresh(t, make);
      const uids = Array.from({ length: 200 }, (_, i) => 50_000 + i);
      await Promise.all(uids.map((uid) => loc.bindGate(uid, `g${uid % 3}`)));
      await Promise.all(uids.map((uid) => loc.bindNode(uid, 'game', `n${uid % 5}`)));
      const gates = await Promise.all(uids.map((uid) => loc.locateGate(uid)));
      const nodes = await Promise.all(uids.map((uid) => loc.locateNode(uid, 'game')));
      assert.deepEqual(
        gates,
        uids.map((uid) => `g${uid % 3}`),
      );
      assert.deepEqual(
        nodes,
        uids.map((uid) => `n${uid % 5}`),
      );
    });

    it('locator - placeActor is a compare-and-set held by a live lease, with a growing fencing token', async (t) => {
      const loc = await fresh(t, make);
      const key = `counter/c${Math.random().toString(36).slice(2)}`;
      assert.equal(await loc.locateActor(key), undefined);
      await loc.renewLease('n1', 60_000);
      await loc.renewLease('n2', 60_000);
      const first = await loc.placeActor(key, 'n1');
      assert.equal(first.nid, 'n1');
      assert.deepEqual(await loc.placeActor(key, 'n2'), first, 'a live owner keeps it');
      assert.deepEqual(await loc.placeActor(key, 'n1'), first, 'placing again on the owner changes nothing');
      assert.deepEqual(await loc.locateActor(key), first);
      assert.equal(await loc.releaseActor(key, { nid: 'n2', token: first.token }), false, 'only the owner frees it');
      assert.equal(await loc.releaseActor(key, { nid: 'n1', token: first.token + 1 }), false, 'with its own token');
      assert.equal(await loc.releaseActor(key, first), true);
      assert.equal(await loc.locateActor(key), undefined);
      const second = await loc.placeActor(key, 'n2');
      assert.equal(second.nid, 'n2');
      assert.ok(second.token > first.token, 'the token never goes back, also after a release');
      await loc.dropLease('n2');
      const third = await loc.placeActor(key, 'n1');
      assert.equal(third.nid, 'n1', 'an owner without a lease loses the actor to the next placer');
      assert.ok(third.token > second.token);
      assert.equal(await loc.releaseActor(key, second), false, 'the old owner cannot free the new placement');
    });

    it('locator - a placement lease runs out by itself', async (t) => {
      const loc = await fresh(t, make);
      const key = `room/r${Math.random().toString(36).slice(2)}`;
      await loc.renewLease('short', 150);
      assert.equal((await loc.placeActor(key, 'short')).nid, 'short');
      assert.equal((await loc.placeActor(key, 'other')).nid, 'short');
      const deadline = Date.now() + 5_000;
      let owner = 'short';
      while (owner === 'short' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        owner = (await loc.placeActor(key, 'other')).nid;
      }
      assert.equal(owner, 'other');
    });

    it('locator - concurrent placeActor calls agree on one owner', async (t) => {
      const loc = await fresh(t, make);
      const key = `counter/race${Math.random().toString(36).slice(2)}`;
      const nodes = ['a', 'b', 'c', 'd', 'e'];
      for (const n of nodes) await loc.renewLease(n, 60_000);
      const got = await Promise.all(nodes.map((n) => loc.placeActor(key, n)));
      assert.equal(new Set(got.map((p) => `${p.nid}#${p.token}`)).size, 1, JSON.stringify(got));
    });

    it('locator - calls after dispose reject with DUET_ERR_CLOSED and dispose is safe twice', async () => {
      const loc = await make();
      await loc.bindGate(1, 'g');
      await loc[Symbol.asyncDispose]();
      await loc[Symbol.asyncDispose]();
      const isClosed = (err: unknown): boolean =>
        err instanceof Error && (err as { code?: unknown }).code === ErrorCode.CLOSED;
      await assert.rejects(loc.bindGate(1, 'g'), isClosed);
      await assert.rejects(loc.locateGate(1), isClosed);
      await assert.rejects(loc.unbindNode(1, 'game', 'n'), isClosed);
    });

    it(
      'locator - dispose ends running watches and a watch started after dispose ends at once',
      known.watchAfterDispose ? { todo: known.watchAfterDispose } : {},
      async () => {
        const loc = await make();
        const single = loc.watch(['gate'], new AbortController().signal)[Symbol.asyncIterator]();
        const several = loc.watch(['gate', 'node'], new AbortController().signal)[Symbol.asyncIterator]();
        await loc[Symbol.asyncDispose]();
        assert.equal((await nextWithin(single, 1_000, 'the end of a one-kind watch')).done, true);
        assert.equal((await nextWithin(several, 1_000, 'the end of a two-kind watch')).done, true);
        const late = loc.watch(['gate'], new AbortController().signal)[Symbol.asyncIterator]();
        assert.equal((await nextWithin(late, 1_000, 'the end of a watch on a disposed locator')).done, true);
      },
    );
  });
}
