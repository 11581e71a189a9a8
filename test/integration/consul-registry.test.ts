import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, ErrorCode, UnavailableError } from '../../src/errors.js';
import { ConsulRegistry, type ConsulRegistryOptions } from '../../src/registry/consul-registry.js';
import type { Registry, ServiceInstance } from '../../src/registry/registry.js';
import { registryContract, sampleInstance, servicesUntil, WatchReader } from '../contract/registry.contract.js';
import { type ConsulStandin, checkContract, startConsulStandin } from '../harness/consul-standin.js';
import { freePort } from '../harness/free-port.js';

// Consul cannot be installed here: the adapter runs against test/harness/consul-standin.ts, an HTTP server with
// Consul's agent/health semantics for the endpoints the adapter uses, and the traffic is checked against the
// recorded contract in test/fixtures/consul.

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/consul');

async function standin(t: { after(fn: () => Promise<void>): void }): Promise<ConsulStandin> {
  const s = await startConsulStandin();
  t.after(async () => {
    await s.close();
    assert.deepEqual(s.unexpected(), [], 'the adapter called only endpoints the stand-in implements');
  });
  return s;
}

function registry(
  t: { after(fn: () => Promise<void>): void },
  s: ConsulStandin,
  opts: ConsulRegistryOptions = {},
): ConsulRegistry {
  const reg = new ConsulRegistry({ addr: s.addr, ...opts });
  t.after(() => reg[Symbol.asyncDispose]());
  return reg;
}

function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (ok()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

registryContract('consul', async () => {
  const s = await startConsulStandin();
  const opened: Registry[] = [];
  return {
    open: async () => {
      const reg = new ConsulRegistry({ addr: s.addr, heartbeatCheckIntervalMs: 2_000, waitTimeMs: 1_500 });
      opened.push(reg);
      return reg;
    },
    close: async () => {
      for (const r of opened) await r[Symbol.asyncDispose]();
      await s.close();
      assert.deepEqual(s.unexpected(), []);
    },
  };
});

describe('consul registry', () => {
  test('consul - register, state change, watch and deregister follow the recorded contract (due layout)', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s); // due's defaults: TTL 10s, deregister after 30s, wait 60s
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    assert.deepEqual((await w.next(5_000)).value, []);
    const node: ServiceInstance = {
      id: 'fixture-node-1',
      kind: 'node',
      name: 'game',
      state: 'work',
      endpoint: 'bus://duet/node/fixture-node-1',
      weight: 1,
      routes: [
        { id: 1, internal: false, stateful: false, authorized: false },
        { id: 2, internal: false, stateful: true, authorized: false },
        { id: 3, internal: true, stateful: false, authorized: false },
        { id: 4, internal: false, stateful: true, authorized: true },
      ],
      events: [1, 3],
      metadata: { region: 'eu' },
    };
    await reg.register(node);
    assert.deepEqual(await w.until((l) => l.length === 1, 5_000), [node]);
    await until(() => s.requests.some((r) => r.path.startsWith('/v1/agent/check/pass/')), 5_000, 'the first TTL pass');
    await reg.register({ ...node, state: 'hang' });
    assert.deepEqual(await w.until((l) => l[0]?.state === 'hang', 5_000), [{ ...node, state: 'hang' }]);
    await reg.deregister(node);
    assert.deepEqual(await w.until((l) => l.length === 0, 5_000), []);
    assert.deepEqual(await reg.services('gate'), []);
    ac.abort();
    await w.ended(5_000);
    assert.deepEqual(checkContract(join(FIXTURES, 'register-watch-deregister.json'), s.requests), []);
  });

  test('consul - split routes, a TCP check, a token and dispose follow the recorded contract', async (t) => {
    const s = await standin(t);
    const listener = createServer((sock) => sock.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => listener.close(() => r())));
    const addr = listener.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const reg = new ConsulRegistry({
      addr: s.addr,
      token: 'fixture-token',
      healthCheck: { addr: `127.0.0.1:${port}` },
    });
    const gate: ServiceInstance = {
      id: 'fixture-gate-1',
      kind: 'gate',
      name: 'gate',
      state: 'work',
      endpoint: 'bus://duet/gate/fixture-gate-1',
      weight: 0,
      // 70 routes of "1000x-6" (7 chars): 64 fit in routes-0 (511 chars), the rest go to routes-1.
      routes: [
        ...Array.from({ length: 69 }, (_, i) => ({ id: 10000 + i, internal: false, stateful: true, authorized: true })),
        { id: -3, internal: true, stateful: false, authorized: false },
      ],
      events: [],
      metadata: {},
    };
    await reg.register(gate);
    await until(() => s.requests.some((r) => r.path.startsWith('/v1/agent/check/pass/')), 5_000, 'the first TTL pass');
    const checks = () => s.services.get('gate-fixture-gate-1')?.checks ?? [];
    await until(() => checks().length === 2 && checks().every((c) => c.status === 'passing'), 5_000, 'both checks');
    assert.deepEqual(await reg.services('gate'), [gate]);
    await reg[Symbol.asyncDispose]();
    assert.equal(s.services.size, 0);
    assert.ok(s.requests.every((r) => r.token === 'fixture-token'));
    // The TCP check's port changes per run: the fixture has $string / $number there.
    assert.deepEqual(checkContract(join(FIXTURES, 'split-routes-tcp-dispose.json'), s.requests), []);
  });

  test('consul - the TTL check is refreshed at once and then every interval/2', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s, { heartbeatCheckIntervalMs: 400 });
    const inst = sampleInstance();
    await reg.register(inst);
    const registeredAt = Date.now();
    const passPath = `/v1/agent/check/pass/service:node-${inst.id}`;
    const passes = () => s.requests.filter((r) => r.path === passPath);
    await until(() => passes().length >= 5, 5_000, '5 TTL passes');
    const at = passes().map((r) => r.at);
    assert.ok((at[0] ?? 0) - registeredAt < 150, `first pass ${(at[0] ?? 0) - registeredAt} ms after register`);
    const gaps = at.slice(1).map((v, i) => v - (at[i] ?? 0));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(mean > 150 && mean < 320, `mean gap ${mean} ms, expected about 200 (gaps ${gaps.join(',')})`);
    assert.equal(s.services.get(`node-${inst.id}`)?.checks[0]?.status, 'passing');
  });

  test('consul - an instance whose TTL lapses leaves the watch and is reaped', async (t) => {
    const s = await standin(t);
    const crashed = registry(t, s, { heartbeatCheckIntervalMs: 300, deregisterCriticalServiceAfterMs: 600 });
    const observer = registry(t, s, { waitTimeMs: 5_000 });
    const alive = sampleInstance();
    const dead = sampleInstance();
    const aliveReg = registry(t, s, { heartbeatCheckIntervalMs: 300, deregisterCriticalServiceAfterMs: 600 });
    await aliveReg.register(alive);
    await crashed.register(dead);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(observer.watch('node', ac.signal));
    await w.until((l) => l.length === 2, 5_000);
    // The "crash": every later TTL refresh of `dead` fails, as if its process had gone.
    s.failNext(`/v1/agent/check/pass/service:node-${dead.id}`, 1_000);
    const lapsedAt = Date.now();
    assert.deepEqual(await w.until((l) => l.length === 1, 5_000), [alive]);
    const took = Date.now() - lapsedAt;
    assert.ok(took < 1_500, `gone from the watch after ${took} ms (TTL 300 ms)`);
    await until(() => !s.services.has(`node-${dead.id}`), 5_000, 'the reaper to remove the critical service');
    assert.ok(s.services.has(`node-${alive.id}`), 'the instance that kept refreshing stays');
  });

  test('consul - dispose deregisters what it registered and ends its watches', async (t) => {
    const s = await standin(t);
    const reg = new ConsulRegistry({ addr: s.addr });
    const a = sampleInstance();
    const g = sampleInstance({ kind: 'gate' });
    await reg.register(a);
    await reg.register(g);
    assert.equal(s.services.size, 2);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    await w.next(5_000);
    const pending = w.next(5_000); // the generator runs its blocking query only while someone pulls
    await until(() => s.waiting === 1, 5_000, 'the blocking query');
    await reg[Symbol.asyncDispose]();
    // The query may still report the deregistrations ([]) before the stream ends.
    const last = await pending;
    assert.ok(last.done || last.value.length === 0, `unexpected ${JSON.stringify(last)}`);
    await w.ended(5_000);
    assert.equal(s.services.size, 0);
    const deregs = s.requests.filter((r) => r.path.startsWith('/v1/agent/service/deregister/')).map((r) => r.path);
    assert.deepEqual(deregs.sort(), [
      `/v1/agent/service/deregister/gate-${g.id}`,
      `/v1/agent/service/deregister/node-${a.id}`,
    ]);
    await until(() => s.waiting === 0, 5_000, 'the blocking query to be cancelled');
    const end = Date.now() + 5_000;
    while ((await s.connections()) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await s.connections(), 0, 'no keep-alive socket left open after dispose');
  });

  test('consul - aborting a watch cancels its blocking query', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s, { waitTimeMs: 60_000 });
    const ac = new AbortController();
    const w = new WatchReader(reg.watch('node', ac.signal));
    await w.next(5_000);
    const pending = w.next(5_000);
    await until(() => s.waiting === 1, 5_000, 'the blocking query');
    ac.abort();
    assert.equal((await pending).done, true);
    await until(() => s.waiting === 0, 5_000, 'the stand-in to see the request go');
  });

  test('consul - a watch survives failed queries and reports them', async (t) => {
    const s = await standin(t);
    const errors: unknown[] = [];
    const reg = registry(t, s, { waitTimeMs: 60_000, onError: (err) => errors.push(err) });
    s.failNext('/v1/health/service/node', 2, 503);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    assert.deepEqual((await w.next(5_000)).value, [], 'the initial list arrives after the retries');
    assert.equal(errors.length, 2);
    assert.ok(errors[0] instanceof UnavailableError && errors[0].code === ErrorCode.UNAVAILABLE);
    const a = sampleInstance();
    await reg.register(a);
    assert.deepEqual(await w.until((l) => l.length === 1, 5_000), [a]);
    s.failNext('/v1/health/service/node', 1, 500);
    await reg.deregister(a);
    assert.deepEqual(await w.until((l) => l.length === 0, 5_000), []);
  });

  test('consul - a Consul that is down fails calls with UnavailableError', async (t) => {
    const port = await freePort();
    const reg = new ConsulRegistry({ addr: `127.0.0.1:${port}` });
    t.after(() => reg[Symbol.asyncDispose]());
    await assert.rejects(reg.register(sampleInstance()), (err: unknown) => {
      return err instanceof UnavailableError && /register/.test(err.message);
    });
    await assert.rejects(reg.services('node'), UnavailableError);
  });

  test('consul - calls take an AbortSignal: an aborted one rejects with its reason and sends nothing', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s);
    const reason = new Error('caller gave up');
    await assert.rejects(reg.register(sampleInstance(), AbortSignal.abort(reason)), (e: unknown) => e === reason);
    await assert.rejects(reg.services('node', AbortSignal.abort(reason)), (e: unknown) => e === reason);
    assert.equal(s.requests.length, 0);
  });

  test('consul - bad options fail with ConfigError naming the key', () => {
    assert.throws(
      () => new ConsulRegistry({ addr: 'nohost' }),
      (e: unknown) => e instanceof ConfigError && e.path === 'registry.consul.addr',
    );
    assert.throws(
      () => new ConsulRegistry({ heartbeatCheckIntervalMs: 0 }),
      (e: unknown) => e instanceof ConfigError && e.path === 'registry.consul.heartbeatCheckInterval',
    );
  });

  test('consul - the token is sent with every call', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s, { token: 'secret-token' });
    await reg.register(sampleInstance());
    await reg.services('node');
    assert.ok(s.requests.length >= 2);
    assert.ok(s.requests.every((r) => r.token === 'secret-token'));
  });

  test('consul - with healthCheck on, a TCP check decides whether the instance is passing', async (t) => {
    const s = await standin(t);
    const listener = createServer((sock) => sock.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => listener.close(() => r())));
    const addr = listener.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const closedPort = await freePort();
    const up = registry(t, s, { healthCheck: { addr: `127.0.0.1:${port}`, intervalMs: 100, timeoutMs: 500 } });
    const down = registry(t, s, { healthCheck: { addr: `127.0.0.1:${closedPort}`, intervalMs: 100, timeoutMs: 500 } });
    const a = sampleInstance();
    const b = sampleInstance();
    await up.register(a);
    await down.register(b);
    const body = s.requests.find((r) => r.path === '/v1/agent/service/register')?.body;
    assert.deepEqual(body && typeof body === 'object' && 'Checks' in body ? body.Checks : undefined, [
      { TCP: `127.0.0.1:${port}`, Interval: '100ms', Timeout: '500ms', DeregisterCriticalServiceAfter: '30s' },
      { CheckID: `service:node-${a.id}`, TTL: '10s', Status: 'passing', DeregisterCriticalServiceAfter: '30s' },
    ]);
    await until(() => s.services.get(`node-${b.id}`)?.checks[0]?.status === 'critical', 5_000, 'the failing probe');
    const list = await servicesUntil(up, 'node', (l) => l.length === 1, 5_000);
    assert.deepEqual(list, [a]);
  });

  test('consul - entries that are not duet/due instances are skipped, never thrown', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s);
    const raw = await fetch(`http://${s.addr}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Name: 'node',
        ID: 'foreign',
        Meta: { kind: 'mesh' },
        Check: { TTL: '10s', Status: 'passing' },
      }),
    });
    assert.equal(raw.status, 200);
    const a = sampleInstance({ id: randomUUID() });
    await reg.register(a);
    assert.deepEqual(await reg.services('node'), [a]);
  });
});

describe('consul stand-in', () => {
  test('consul stand-in - an unknown endpoint gets 404 and is recorded as unexpected', async () => {
    const s = await startConsulStandin();
    try {
      const res = await fetch(`http://${s.addr}/v1/catalog/services`);
      assert.equal(res.status, 404);
      assert.deepEqual(
        s.unexpected().map((r) => `${r.method} ${r.path}`),
        ['GET /v1/catalog/services'],
      );
    } finally {
      await s.close();
    }
  });

  test('consul stand-in - a blocking query returns at the wait with the same index, or at once on a change', async (t) => {
    const s = await standin(t);
    const url = `http://${s.addr}/v1/health/service/node?passing=true`;
    const first = await fetch(url);
    const index = first.headers.get('x-consul-index');
    assert.ok(index && Number(index) > 0);
    const started = Date.now();
    const waited = await fetch(`${url}&index=${index}&wait=200ms`);
    assert.ok(Date.now() - started >= 180, 'held until the wait expired');
    assert.equal(waited.headers.get('x-consul-index'), index);
    const blocked = fetch(`${url}&index=${index}&wait=10s`);
    await until(() => s.waiting === 1, 5_000, 'the blocking query');
    const reg = await fetch(`http://${s.addr}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'node', ID: 'n1', Check: { TTL: '10s', Status: 'passing' } }),
    });
    assert.equal(reg.status, 200);
    const woken = await blocked;
    assert.ok(Number(woken.headers.get('x-consul-index')) > Number(index));
    assert.equal(((await woken.json()) as unknown[]).length, 1);
  });

  test('consul stand-in - Meta that Consul would refuse gets 400, and the adapter reports it', async (t) => {
    const s = await standin(t);
    const res = await fetch(`http://${s.addr}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'node', Meta: { big: 'x'.repeat(513) }, Check: { TTL: '10s' } }),
    });
    assert.equal(res.status, 400);
    s.failNext('/v1/agent/service/register', 1, 400);
    const reg = registry(t, s);
    await assert.rejects(reg.register(sampleInstance()), (err: unknown) => err instanceof UnavailableError);
    assert.equal(s.services.size, 0);
  });

  test('consul - a blocking query that times out with the same index yields nothing new', async (t) => {
    const s = await standin(t);
    const reg = registry(t, s, { waitTimeMs: 150 });
    const a = sampleInstance();
    await reg.register(a);
    const ac = new AbortController();
    t.after(() => ac.abort());
    const w = new WatchReader(reg.watch('node', ac.signal));
    assert.deepEqual((await w.next(5_000)).value, [a]);
    const pending = w.next(60_000);
    const blocking = () => s.requests.filter((r) => r.path === '/v1/health/service/node' && r.query.index).length;
    await until(() => blocking() >= 4, 5_000, 'four blocking queries to time out and be repeated');
    const b = sampleInstance();
    await reg.register(b);
    const next = await pending;
    assert.equal(next.value?.length, 2, 'the first value after the quiet period is the change itself');
  });
});

describe('consul registry recovery', () => {
  test('consul - an instance Consul reaped while it was alive registers itself again', async (t) => {
    const s = await standin(t);
    const errors: unknown[] = [];
    const reg = registry(t, s, {
      heartbeatCheckIntervalMs: 300,
      deregisterCriticalServiceAfterMs: 300,
      onError: (e) => errors.push(e),
    });
    const a = sampleInstance();
    await reg.register(a);
    const passPath = `/v1/agent/check/pass/service:node-${a.id}`;
    // A stall: every refresh fails until the service is reaped...
    s.failNext(passPath, 1_000);
    await until(() => !s.services.has(`node-${a.id}`), 5_000, 'the reaper');
    // ...then the refreshes reach Consul again, get 404 (unknown check) and the adapter registers again.
    const registersBefore = s.requests.filter((r) => r.path === '/v1/agent/service/register').length;
    s.clearFailures();
    const back = await servicesUntil(reg, 'node', (l) => l.length === 1, 5_000);
    assert.deepEqual(back, [a]);
    assert.ok(s.requests.filter((r) => r.path === '/v1/agent/service/register').length > registersBefore);
    assert.ok(
      s.requests.some((r) => r.path === passPath && r.status === 404),
      'a pass was answered 404 first',
    );
  });
});
