import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { createAdapters } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, ErrorCode, UnavailableError } from '../../src/errors.js';
import { decodeEtcdInstance } from '../../src/registry/etcd-instance.js';
import { EtcdRegistry } from '../../src/registry/etcd-registry.js';
import type { Registry, ServiceInstance } from '../../src/registry/registry.js';
import { registryContract, sampleInstance, WatchReader } from '../contract/registry.contract.js';
import { type EtcdServer, startEtcd } from '../harness/etcd.js';
import { freePort } from '../harness/free-port.js';

// A real etcd (Debian's etcd-server) started by the harness on free loopback ports.

registryContract('etcd', async () => {
  const etcd = await startEtcd();
  const opened: Registry[] = [];
  return {
    open: async () => {
      const reg = new EtcdRegistry({ addrs: [etcd.addr], retryIntervalMs: 2_000 });
      opened.push(reg);
      return reg;
    },
    close: async () => {
      for (const r of opened) await r[Symbol.asyncDispose]();
      await etcd[Symbol.asyncDispose]();
    },
  };
});

async function server(t: { after(fn: () => Promise<void>): void }): Promise<EtcdServer> {
  const etcd = await startEtcd();
  t.after(() => etcd[Symbol.asyncDispose]());
  return etcd;
}

function raw(t: { after(fn: () => void): void }, etcd: EtcdServer): Etcd3 {
  const c = new Etcd3({ hosts: `http://${etcd.addr}` });
  t.after(() => c.close());
  return c;
}

/** services('node') once etcd answers again and lists one instance; failures while it is down are expected. */
async function servicesOnceUp(reg: Registry, ms: number): Promise<ServiceInstance[]> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const list = await reg.services('node');
      if (list.length === 1) return list;
      last = list;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`services() did not come back within ${ms} ms; last ${String(last)}`);
}

describe('etcd registry', () => {
  test('etcd - the key is /{namespace}/{kind}/{id}, the value due JSON, under a lease of retryInterval+1 s', async (t) => {
    const etcd = await server(t);
    const reg = new EtcdRegistry({ addrs: [etcd.addr], namespace: 'games', retryIntervalMs: 4_000 });
    t.after(() => reg[Symbol.asyncDispose]());
    const ins = sampleInstance({ id: 'n-1', metadata: { region: 'eu' } });
    await reg.register(ins);
    const c = raw(t, etcd);
    const kvs = await c.getAll().prefix('/games/').exec();
    assert.deepEqual(
      kvs.kvs.map((kv) => kv.key.toString()),
      ['/games/node/n-1'],
    );
    const kv = kvs.kvs[0];
    assert.ok(kv);
    // Go's encoding/json of due's registry.ServiceInstance: struct order, omitempty everywhere.
    assert.equal(
      kv.value.toString(),
      '{"id":"n-1","name":"node","kind":"node","alias":"game","state":"work","events":[1,3],' +
        '"routes":[{"i":1},{"i":2,"s":true},{"i":3,"n":true},{"i":4,"s":true,"a":true},{"i":-7,"n":true,"s":true,"a":true}],' +
        '"endpoint":"bus://duet/node/n-1","weight":3,"metadata":{"region":"eu"}}',
    );
    const ours = await c.leaseClient.leaseTimeToLive({ ID: kv.lease });
    assert.equal(Number(ours.grantedTTL), 5);
    await reg.deregister(ins);
    assert.equal((await c.getAll().prefix('/games/').keys()).length, 0, 'deregister deletes the key');
  });

  test('etcd - instances written by due are read; mesh entries and junk are skipped', async (t) => {
    const etcd = await server(t);
    const c = raw(t, etcd);
    await c
      .put('/services/node/go-1')
      .value(
        '{"id":"go-1","name":"node","kind":"node","alias":"node","state":"work","routes":[{"i":1},{"i":2,"s":true}],' +
          '"endpoint":"drpc://10.0.0.5:3000?is_secure=false","weight":1}',
      );
    await c.put('/services/node/bad').value('not json');
    await c.put('/services/mesh/m-1').value('{"id":"m-1","name":"mesh","kind":"mesh"}');
    const reg = new EtcdRegistry({ addrs: [etcd.addr] });
    t.after(() => reg[Symbol.asyncDispose]());
    const list = await reg.services('node');
    assert.deepEqual(list, [
      {
        id: 'go-1',
        kind: 'node',
        name: 'node',
        state: 'work',
        endpoint: 'drpc://10.0.0.5:3000?is_secure=false',
        weight: 1,
        routes: [
          { id: 1, internal: false, stateful: false, authorized: false },
          { id: 2, internal: false, stateful: true, authorized: false },
        ],
        events: [],
        metadata: {},
      },
    ]);
    assert.equal(decodeEtcdInstance('{"id":"x","kind":"mesh"}'), undefined);
  });

  test('etcd - killed and restarted without its data: instances come back, watches follow, no crash', async (t) => {
    const etcd = await server(t);
    const errors: string[] = [];
    const opts = {
      addrs: [etcd.addr],
      retryIntervalMs: 1_000,
      timeoutMs: 1_000,
      onError: (e: unknown, ctx: string) => {
        errors.push(`${ctx}: ${e instanceof Error ? e.message : String(e)}`);
      },
    };
    const a = new EtcdRegistry(opts);
    const b = new EtcdRegistry(opts);
    t.after(() => a[Symbol.asyncDispose]());
    t.after(() => b[Symbol.asyncDispose]());
    const ins = sampleInstance({ id: 'survivor' });
    await a.register(ins);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(b.watch('node', ac.signal));
    await w.until((l) => l.length === 1, 5_000);
    await etcd.kill();
    await assert.rejects(b.services('node'), UnavailableError);
    await etcd.restart({ wipe: true });
    // Re-registered by the lease keeper (the wiped server has no key and no lease)...
    const back = await servicesOnceUp(b, 20_000);
    assert.deepEqual(back, [ins]);
    // ...and the watch runs against the new server: a change made now reaches it.
    const later = sampleInstance({ id: 'later' });
    await a.register(later);
    await w.until((l) => l.some((i) => i.id === 'later') && l.some((i) => i.id === 'survivor'), 10_000);
    assert.ok(
      errors.some((e) => e.includes('lease')),
      `the lost lease was reported: ${errors.join(' | ')}`,
    );
  });

  test('etcd - no server: register rejects with UnavailableError; bad options stop with ConfigError', async (t) => {
    const port = await freePort();
    const reg = new EtcdRegistry({ addrs: [`127.0.0.1:${port}`], timeoutMs: 500, dialTimeoutMs: 300 });
    t.after(() => reg[Symbol.asyncDispose]());
    await assert.rejects(reg.register(sampleInstance()), (e: unknown) => {
      return e instanceof UnavailableError && e.code === ErrorCode.UNAVAILABLE;
    });
    assert.throws(() => new EtcdRegistry({ addrs: [] }), ConfigError);
    assert.throws(() => new EtcdRegistry({ addrs: ['no port'] }), ConfigError);
    assert.throws(() => new EtcdRegistry({ namespace: 'a/b' }), ConfigError);
    assert.throws(() => new EtcdRegistry({ retryTimes: 1.5 }), ConfigError);
  });
});

test('etcd - registry.adapter = "etcd" and the [registry.etcd] keys build the registry (namespace, lease TTL)', async (t) => {
  const etcd = await server(t);
  const dir = mkdtempSync(join(tmpdir(), 'duet-etcd-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const toml = [
    '[registry]',
    'adapter = "etcd"',
    '[registry.etcd]',
    `addrs = ["${etcd.addr}"]`,
    'namespace = "from-config"',
    'retryInterval = "6s"',
    'timeout = "2s"',
    'dialTimeout = "2s"',
    'retryTimes = 2',
  ].join('\n');
  writeFileSync(join(dir, 'node.toml'), toml);
  const { config } = loadConfig({ role: 'node', env: {}, argv: ['--config', dir], cwd: dir });
  const adapters = await createAdapters({ ...config, bus: { ...config.bus, adapter: 'memory' } });
  t.after(() => adapters.dispose());
  assert.equal(adapters.names.registry, 'etcd');
  await adapters.registry.register(sampleInstance({ id: 'cfg-1' }));
  const c = raw(t, etcd);
  const kvs = (await c.getAll().prefix('/from-config/').exec()).kvs;
  assert.deepEqual(
    kvs.map((kv) => kv.key.toString()),
    ['/from-config/node/cfg-1'],
  );
  const lease = await c.leaseClient.leaseTimeToLive({ ID: kvs[0]?.lease ?? '0' });
  assert.equal(Number(lease.grantedTTL), 7);
});
