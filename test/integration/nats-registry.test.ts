import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { createNatsRegistry, keyToken, type NatsRegistryOptions } from '../../src/registry/nats-registry.js';
import type { Registry, ServiceInstance } from '../../src/registry/registry.js';
import { registryContract, sampleInstance, servicesUntil, WatchReader } from '../contract/registry.contract.js';
import { freePort } from '../harness/free-port.js';
import { type NatsServer, startNats, startNatsCluster } from '../harness/nats.js';

// One JetStream nats-server for the file; every test gets its own bucket, so tests never see each other's entries.
let server: NatsServer;
before(async () => {
  server = await startNats({ jetstream: true });
});
after(() => server[Symbol.asyncDispose]());

const bucket = (): string => `duet_t${randomUUID().replaceAll('-', '').slice(0, 12)}`;

registryContract('nats-kv', async () => {
  const name = bucket();
  const opened: Registry[] = [];
  return {
    open: async () => {
      const reg = await createNatsRegistry({ servers: server.url, bucket: name, refreshIntervalMs: 1_000 });
      opened.push(reg);
      return reg;
    },
    close: async () => {
      for (const r of opened) await r[Symbol.asyncDispose]();
    },
  };
});

describe('nats registry', () => {
  async function open(t: { after(fn: () => Promise<void>): void }, opts: Partial<NatsRegistryOptions>) {
    const reg = await createNatsRegistry({ servers: server.url, ...opts });
    t.after(() => reg[Symbol.asyncDispose]());
    return reg;
  }

  test('nats-kv - an instance whose refresh stops is dropped from the watch within 3 intervals', async (t) => {
    const name = bucket();
    const errors: unknown[] = [];
    // The "crashed" process has its own connection; closing it stops the refresh without a delete.
    const nc = await connect({ servers: server.url });
    const crashed = await open(t, {
      connection: nc,
      bucket: name,
      refreshIntervalMs: 300,
      onError: (e) => errors.push(e),
    });
    const alive = await open(t, { bucket: name, refreshIntervalMs: 300 });
    const observer = await open(t, { bucket: name, refreshIntervalMs: 300 });
    const a = sampleInstance();
    const d = sampleInstance();
    await alive.register(a);
    await crashed.register(d);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(observer.watch('node', ac.signal));
    await w.until((l) => l.length === 2, 5_000);
    await nc.close();
    const stoppedAt = Date.now();
    assert.deepEqual(await w.until((l) => l.length === 1, 5_000), [a]);
    const took = Date.now() - stoppedAt;
    // Last refresh <= 300 ms before the close, dropped after 900 ms without one, the sweep runs every 300 ms.
    assert.ok(took <= 1_300, `dropped after ${took} ms`);
    assert.ok(took >= 500, `dropped too early (${took} ms): the instance kept refreshing until the close`);
    // The one that keeps refreshing is never dropped meanwhile.
    assert.deepEqual(await servicesUntil(observer, 'node', (l) => l.length === 1, 5_000), [a]);
  });

  test('nats-kv - refreshes put the entry every interval without waking watchers', async (t) => {
    const name = bucket();
    const reg = await open(t, { bucket: name, refreshIntervalMs: 200 });
    const a = sampleInstance();
    await reg.register(a);
    const nc = await connect({ servers: server.url });
    t.after(() => nc.close());
    const kv = await new Kvm(nc).open(name);
    const key = `node.${keyToken(a.id)}`;
    const first = await kv.get(key);
    assert.ok(first);
    const revs = new Set<number>([first.revision]);
    const end = Date.now() + 5_000;
    while (revs.size < 4 && Date.now() < end) {
      const e = await kv.get(key);
      if (e) revs.add(e.revision);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(revs.size >= 4, `only ${revs.size} revisions within 5 s`);
    const value = (await kv.get(key))?.json<Record<string, unknown>>();
    assert.equal(value?.id, a.id);
    assert.equal(typeof value?.refreshedAt, 'number');
    assert.equal(value?.refreshIntervalMs, 200);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    assert.deepEqual((await w.next(5_000)).value, [a]);
    // Three more refreshes land, and the list did not change, so nothing more is yielded.
    const revsBefore = (await kv.get(key))?.revision ?? 0;
    while (((await kv.get(key))?.revision ?? 0) < revsBefore + 3) await new Promise((r) => setTimeout(r, 50));
    const pending = w.next(300).then(
      (r) => `yielded ${JSON.stringify(r)}`,
      () => 'quiet',
    );
    assert.equal(await pending, 'quiet');
  });

  test('nats-kv - the bucket is per cluster with max age of 3 intervals, the key is {kind}.{id}', async (t) => {
    const cluster = `c${randomUUID().slice(0, 8)}`;
    const reg = await open(t, { cluster, refreshIntervalMs: 500 });
    const g = sampleInstance({ kind: 'gate', id: 'gate.with spaces' });
    await reg.register(g);
    const nc = await connect({ servers: server.url });
    t.after(() => nc.close());
    const kv = await new Kvm(nc).open(`duet_${cluster}`);
    const status = await kv.status();
    assert.equal(status.ttl, 1_500);
    assert.equal(status.history, 1);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    assert.deepEqual(keys, ['gate.gate=2Ewith=20spaces']);
    for (let i = 0; i < 5; i++) assert.deepEqual(await reg.services('gate'), [g]);
    // services() reads subjects and direct gets: it leaves no consumer behind on the server.
    const consumers: string[] = [];
    for await (const c of (await jetstreamManager(nc)).consumers.list(`KV_duet_${cluster}`)) consumers.push(c.name);
    assert.ok(consumers.length <= 1, `consumers left: ${consumers.join(', ')}`); // the kv.keys() above made one
  });

  test('nats-kv - entries that are not instances are skipped, never thrown', async (t) => {
    const name = bucket();
    const reg = await open(t, { bucket: name });
    const nc = await connect({ servers: server.url });
    t.after(() => nc.close());
    const kv = await new Kvm(nc).open(name);
    await kv.put('node.junk', 'not json');
    await kv.put('node.other', JSON.stringify({ id: 'x', kind: 'mesh', state: 'work' }));
    await kv.put('node.badroutes', JSON.stringify({ id: 'y', kind: 'node', state: 'work', routes: ['1-0'] }));
    const a = sampleInstance();
    await reg.register(a);
    assert.deepEqual(await reg.services('node'), [a]);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    assert.deepEqual((await w.next(5_000)).value, [a]);
    await kv.put('node.junk2', '{"id":');
    await reg.deregister(a);
    assert.deepEqual(await w.until((l) => l.length === 0, 5_000), []);
  });

  test('nats-kv - dispose deletes what it registered; other watchers see it leave at once', async (t) => {
    const name = bucket();
    const reg = await createNatsRegistry({ servers: server.url, bucket: name, refreshIntervalMs: 10_000 });
    const observer = await open(t, { bucket: name, refreshIntervalMs: 10_000 });
    const a = sampleInstance();
    await reg.register(a);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(observer.watch('node', ac.signal));
    await w.until((l) => l.length === 1, 5_000);
    await reg[Symbol.asyncDispose]();
    assert.deepEqual(await w.until((l) => l.length === 0, 2_000), [], 'gone well before the 30 s staleness limit');
  });

  test('nats-kv - no server: create fails with UnavailableError; bad options with ConfigError', async () => {
    const port = await freePort();
    await assert.rejects(
      createNatsRegistry({ servers: `127.0.0.1:${port}` }),
      (e: unknown) => e instanceof UnavailableError,
    );
    await assert.rejects(createNatsRegistry({ servers: server.url, bucket: 'bad.name' }), ConfigError);
    await assert.rejects(createNatsRegistry({ servers: server.url, refreshIntervalMs: 0 }), ConfigError);
    await assert.rejects(createNatsRegistry({}), ConfigError);
  });

  test('nats-kv - a watch survives a server restart', async (t) => {
    const local = await startNats({ jetstream: true });
    t.after(() => local[Symbol.asyncDispose]());
    const name = bucket();
    const errors: unknown[] = [];
    const reg = await createNatsRegistry({
      servers: local.url,
      bucket: name,
      refreshIntervalMs: 300,
      onError: (e) => errors.push(e),
    });
    t.after(() => reg[Symbol.asyncDispose]());
    const a = sampleInstance();
    await reg.register(a);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    assert.deepEqual((await w.next(5_000)).value, [a]);
    await local.restart();
    const b = sampleInstance();
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        await reg.register(b);
        break;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const list = await w.until((l) => l.some((i) => i.id === b.id), 10_000);
    assert.deepEqual(list.map((i) => i.id).sort(), [a.id, b.id].sort());
  });

  test('nats-kv - with 3 replicas on a 3-server cluster, losing the bucket leader loses nothing', async (t) => {
    const cluster = await startNatsCluster(3, { jetstream: true });
    t.after(() => cluster[Symbol.asyncDispose]());
    const name = bucket();
    const reg = await open(t, { servers: cluster.urls, bucket: name, refreshIntervalMs: 500, replicas: 3 });
    const a = sampleInstance();
    await reg.register(a);
    const nc = await connect({ servers: cluster.urls });
    t.after(() => nc.close());
    const status = await (await new Kvm(nc).open(name)).status();
    assert.equal(status.replicas, 3);
    const leader = status.streamInfo.cluster?.leader;
    const victim = cluster.servers.find((s) => s.name === leader);
    assert.ok(victim, `leader ${leader} is one of ours`);
    await victim.kill();
    const b = sampleInstance();
    const killedAt = Date.now();
    const end = Date.now() + 15_000;
    for (;;) {
      try {
        await reg.register(b);
        break;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // Reads may fail while JetStream elects new leaders; they must come back with both entries.
    let list: ServiceInstance[] = [];
    const readEnd = Date.now() + 25_000;
    while (list.length !== 2) {
      try {
        list = await reg.services('node');
      } catch (err) {
        if (Date.now() > readEnd) throw err;
      }
      if (Date.now() > readEnd) break;
      if (list.length !== 2) await new Promise((r) => setTimeout(r, 200));
    }
    // Measured on nats-server 2.9.10 (2 cores): writes and reads both work again 4.6-8.7 s after the kill.
    assert.ok(Date.now() - killedAt < 30_000);
    assert.deepEqual(list.map((i) => i.id).sort(), [a.id, b.id].sort());
  });
});
