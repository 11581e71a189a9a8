import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Cluster } from 'ioredis';
import type { LocateEvent } from '../../src/locate/locator.js';
import { RedisLocator } from '../../src/locate/redis-locator.js';
import { liveRedisServers, type RedisCluster, startRedisCluster } from '../harness/redis.js';

/**
 * `locate.redis.addrs` with several addresses → the Redis Cluster client (due: go-redis UniversalClient). A real
 * 3-master cluster; the gate and node keys of the locator's uids fall in slots owned by different masters, and
 * events published inside the scripts reach subscribers on any member (cluster-wide PUBLISH).
 */

let cluster: RedisCluster;
let prefixSeq = 0;

before(async () => {
  cluster = await startRedisCluster(3);
});

after(async () => {
  await cluster?.[Symbol.asyncDispose]();
  assert.equal(liveRedisServers(), 0, 'every redis-server this file started is gone');
});

async function newLocator(
  t: TestContext,
  prefix = `duet-cluster:${process.pid}:${++prefixSeq}`,
): Promise<RedisLocator> {
  const loc = new RedisLocator({ addrs: cluster.addrs, prefix });
  t.after(() => loc[Symbol.asyncDispose]());
  await loc.ready(undefined, 10_000);
  return loc;
}

function rawCluster(t: TestContext): Cluster {
  const c = new Cluster(
    cluster.servers.map((s) => ({ host: s.host, port: s.port })),
    { clusterRetryStrategy: () => null },
  );
  c.on('error', () => {});
  t.after(() => c.disconnect());
  return c;
}

async function take(it: AsyncIterator<LocateEvent>, n: number): Promise<LocateEvent[]> {
  const out: LocateEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} events, got ${out.length}`)), 5_000);
  });
  try {
    while (out.length < n) {
      const r = await Promise.race([it.next(), deadline]);
      if (r.done) break;
      out.push(r.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

describe('redis locator - cluster', () => {
  it('redis cluster - binds, lookups and compare-and-delete across masters with due keys', async (t) => {
    const loc = await newLocator(t);
    const raw = rawCluster(t);
    const uids = Array.from({ length: 40 }, (_, i) => 9_000 + i);
    await Promise.all(uids.map((uid) => loc.bindGate(uid, `g${uid}`)));
    await Promise.all(uids.map((uid) => loc.bindNode(uid, 'game', `n${uid}`)));
    const masters = new Set<number>();
    for (const uid of uids) {
      const key = `${loc.prefix}:locate:user:${uid}:gate`;
      const slot = Number(await raw.cluster('KEYSLOT', key));
      const owner = (await raw.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to);
      masters.add(Number(owner?.[2]?.[1]));
      assert.equal(await raw.get(key), `g${uid}`);
      assert.equal(await raw.hget(`${loc.prefix}:locate:user:${uid}:node`, 'game'), `n${uid}`);
    }
    assert.equal(masters.size, 3, 'the keys are spread over every master');
    for (const uid of uids) {
      assert.equal(await loc.locateGate(uid), `g${uid}`);
      assert.equal(await loc.locateNode(uid, 'game'), `n${uid}`);
    }
    await loc.unbindGate(uids[0] as number, 'stale');
    assert.equal(await loc.locateGate(uids[0] as number), `g${uids[0]}`);
    await Promise.all(uids.map((uid) => loc.unbindGate(uid, `g${uid}`)));
    await Promise.all(uids.map((uid) => loc.unbindNode(uid, 'game', `n${uid}`)));
    for (const uid of uids) assert.equal(await loc.locateGate(uid), undefined);
    assert.equal(await raw.exists(`${loc.prefix}:locate:user:${uids[1]}:node`), 0);
  });

  it('redis cluster - events from every master reach another instance, in order per key', async (t) => {
    const a = await newLocator(t);
    const b = await newLocator(t, a.prefix);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const events = b.watch(['gate', 'node'], ac.signal)[Symbol.asyncIterator]();
    const uids = [1, 2, 3, 4, 5, 6];
    for (const uid of uids) {
      await a.bindGate(uid, `g${uid}`);
      await a.bindNode(uid, 'game', `n${uid}`);
      await a.unbindGate(uid, `g${uid}`);
    }
    const got = await take(events, uids.length * 3);
    assert.equal(got.length, uids.length * 3);
    for (const uid of uids) {
      // Keys of one uid live on different masters, so only the order per key is guaranteed.
      const gateTypes = got.filter((e) => e.uid === uid && e.insKind === 'gate').map((e) => e.type);
      assert.deepEqual(gateTypes, [1, 3], `gate events of uid ${uid}`);
      assert.equal(got.filter((e) => e.uid === uid && e.insKind === 'node').length, 1);
    }
    const reads = b.stats().reads;
    for (const uid of uids) {
      assert.equal(await b.locateNode(uid, 'game'), `n${uid}`);
      assert.equal(await b.locateGate(uid), undefined);
    }
    assert.equal(b.stats().reads, reads, 'B answered from the cache its events built, without reading Redis');
  });

  it('redis cluster - with the events member down the locator is degraded: lookups read Redis, never stale', async (t) => {
    const own = await startRedisCluster(3);
    t.after(() => own[Symbol.asyncDispose]());
    const prefix = `duet-cluster:${process.pid}:${++prefixSeq}`;
    const loc = new RedisLocator({ addrs: own.addrs, prefix, reconnectMaxDelayMs: 200 });
    t.after(() => loc[Symbol.asyncDispose]());
    await loc.ready(undefined, 10_000);
    const raw = new Cluster([{ host: own.servers[1]?.host, port: own.servers[1]?.port }]);
    raw.on('error', () => {});
    t.after(() => raw.disconnect());
    // A uid whose gate key lives on a member other than the first (the one the events connection uses).
    const firstPort = own.servers[0]?.port;
    const slots = await raw.cluster('SLOTS');
    let uid = 0;
    for (let u = 1; u < 1000 && uid === 0; u++) {
      const slot = Number(await raw.cluster('KEYSLOT', `${prefix}:locate:user:${u}:gate`));
      const owner = slots.find(([from, to]) => slot >= from && slot <= to);
      if (Number(owner?.[2]?.[1]) !== firstPort) uid = u;
    }
    assert.ok(uid > 0);
    await loc.bindGate(uid, 'gate-1');
    assert.equal(await loc.locateGate(uid), 'gate-1');

    await own.servers[0]?.kill();
    const deadline = Date.now() + 5_000;
    while (loc.status !== 'degraded') {
      assert.ok(Date.now() < deadline, `status ${loc.status}, expected degraded`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Changed behind the locator's back with no event it could see: a degraded locator reads it fresh.
    await raw.set(`${prefix}:locate:user:${uid}:gate`, 'gate-2');
    assert.equal(await loc.locateGate(uid), 'gate-2');
    await loc.bindGate(uid, 'gate-3');
    assert.equal(await loc.locateGate(uid), 'gate-3', 'writes to the surviving members still work');
  });
});
