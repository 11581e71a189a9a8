import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Cluster } from 'ioredis';
import type { LocateEvent } from '../../src/locate/locator.js';
import { RedisLocator } from '../../src/locate/redis-locator.js';
import { type RedisCluster, startRedisCluster } from '../harness/redis.js';

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
});
