import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisLocator } from '../../src/locate/redis-locator.js';
import { SETTLES_PER_TURN } from '../../src/locate/redis-write-batch.js';
import { type DelayProxy, startDelayProxy } from '../harness/delay-proxy.js';
import { liveRedisServers, type RedisServer, startRedis } from '../harness/redis.js';

/**
 * Locator writes of one turn share one Redis call (src/locate/redis-write-batch.ts): behind 2 ms of added latency,
 * a login storm's binds cost a handful of round trips, not one each. Counted with INFO commandstats, not timed.
 */

const DELAY_MS = 2;
let redis: RedisServer;
let proxy: DelayProxy;
let raw: Redis;

before(async () => {
  redis = await startRedis();
  proxy = await startDelayProxy(redis.port, DELAY_MS);
  raw = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 0 });
  raw.on('error', () => {});
});

after(async () => {
  raw?.disconnect();
  await proxy?.[Symbol.asyncDispose]();
  await redis?.[Symbol.asyncDispose]();
  assert.equal(liveRedisServers(), 0, 'every redis-server this file started is gone');
});

/** Script calls (EVAL + EVALSHA) since the last CONFIG RESETSTAT. */
async function scriptCalls(): Promise<number> {
  const info = await raw.info('commandstats');
  let n = 0;
  for (const cmd of ['eval', 'evalsha']) {
    const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+),`, 'm').exec(info);
    n += m ? Number(m[1]) : 0;
  }
  return n;
}

describe('redis locator - batched writes', () => {
  it('redis locator - 1,000 gate and 1,000 node binds through a 2 ms proxy take at most 8 script calls, all applied', async (t) => {
    const loc = new RedisLocator({ addrs: [proxy.addr], prefix: `batch-${process.pid}-a` });
    t.after(() => loc[Symbol.asyncDispose]());
    await loc.ready();
    await raw.config('RESETSTAT');
    const n = 1000;
    const uids = Array.from({ length: n }, (_, i) => i + 1);
    const events: number[] = [];
    const ac = new AbortController();
    t.after(() => ac.abort());
    const watching = (async () => {
      for await (const e of loc.watch(['gate', 'node'], ac.signal)) {
        events.push(e.uid);
        if (events.length === 2 * n) return;
      }
    })();
    const previous = await Promise.all(uids.map((uid) => loc.bindGate(uid, 'gate-1')));
    await Promise.all(uids.map((uid) => loc.bindNode(uid, 'game', 'node-1')));
    const calls = await scriptCalls();
    // 1,000 gate binds in one turn → 4 calls of 256; the node binds likewise. One call per bind would be 2,000.
    assert.ok(calls <= 8, `2,000 writes took ${calls} script calls`);
    assert.deepEqual(new Set(previous), new Set([undefined]), 'no uid was bound before');
    for (const uid of [1, 500, 1000]) {
      assert.equal(await raw.get(`${loc.prefix}:locate:user:${uid}:gate`), 'gate-1');
      assert.equal(await raw.hget(`${loc.prefix}:locate:user:${uid}:node`, 'game'), 'node-1');
    }
    await watching;
    assert.deepEqual(events.slice(0, n), uids, 'gate events in call order');
    assert.deepEqual(events.slice(n), uids, 'node events in call order');
  });

  it('redis locator - a batch mixes binds and compare-and-deletes in call order; a bad key fails alone', async (t) => {
    const loc = new RedisLocator({ addrs: [proxy.addr], prefix: `batch-${process.pid}-b` });
    t.after(() => loc[Symbol.asyncDispose]());
    await loc.ready();
    // uid 3's gate key holds a hash: its compare-and-delete fails with WRONGTYPE, its neighbours do not.
    await raw.hset(`${loc.prefix}:locate:user:3:gate`, 'x', 'y');
    await raw.config('RESETSTAT');
    const results = await Promise.allSettled([
      loc.bindGate(1, 'g1'),
      loc.unbindGate(1, 'g-other'),
      loc.bindGate(2, 'g1'),
      loc.unbindGate(2, 'g1'),
      loc.unbindGate(3, 'g1'),
      loc.bindGate(4, 'g1'),
      loc.bindGate(4, 'g2'),
    ]);
    assert.equal(await scriptCalls(), 1, 'seven writes, one call');
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    const fifth = results[4];
    assert.match(fifth?.status === 'rejected' ? String(fifth.reason) : '', /WRONGTYPE/);
    assert.equal((results[6] as PromiseFulfilledResult<string | undefined>).value, 'g1', 'saw the bind before it');
    assert.equal(await raw.get(`${loc.prefix}:locate:user:1:gate`), 'g1', 'stale unbind refused');
    assert.equal(await raw.exists(`${loc.prefix}:locate:user:2:gate`), 0, 'bind then unbind');
    assert.equal(await raw.get(`${loc.prefix}:locate:user:4:gate`), 'g2', 'last bind wins');
  });

  it('redis locator - 1,000 binds answered at once settle a slice per turn, in call order (the loop stays free)', async (t) => {
    const loc = new RedisLocator({ addrs: [proxy.addr], prefix: `batch-${process.pid}-c` });
    t.after(() => loc[Symbol.asyncDispose]());
    await loc.ready();
    // A turn counter advanced by setImmediate: settlements seen in one turn ran with no I/O between them.
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const settled: { uid: number; turn: number }[] = [];
    const n = 1000;
    const uids = Array.from({ length: n }, (_, i) => i + 1);
    await Promise.all(uids.map((uid) => loc.bindGate(uid, 'gate-1').then(() => settled.push({ uid, turn }))));
    ticking = false;
    assert.deepEqual(
      settled.map((s) => s.uid),
      uids,
      'settled in call order',
    );
    const perTurn = new Map<number, number>();
    for (const s of settled) perTurn.set(s.turn, (perTurn.get(s.turn) ?? 0) + 1);
    const most = Math.max(...perTurn.values());
    assert.ok(most <= SETTLES_PER_TURN, `${most} writes settled in one turn (limit ${SETTLES_PER_TURN})`);
    assert.ok(perTurn.size >= Math.ceil(n / SETTLES_PER_TURN), `${n} writes settled over ${perTurn.size} turns`);
  });
});
