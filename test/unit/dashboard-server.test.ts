/**
 * The `[admin]` listener's config and its guards, in process: a bad admin.addr stops with one line, the token is
 * never printed, ":port" listens on loopback only, an empty token refuses every state-changing call.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDashboardServer } from '../../src/admin/dashboard-server.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { formatConfig, loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

const load = (...sets: string[]) =>
  loadConfig({ role: 'gate', env: {}, argv: ['--config', 'config', ...sets.flatMap((s) => ['--set', s])] });

test('dashboard server - admin.addr is validated, admin.token is hidden when the config is printed', () => {
  assert.equal(load().config.admin.addr, '');
  assert.throws(
    () => load('admin.addr="nowhere"'),
    (e: unknown) => e instanceof ConfigError && /admin\.addr/.test(e.message),
  );
  const printed = formatConfig(load('admin.token="very-secret-admin-token"', 'admin.addr="127.0.0.1:9300"'));
  assert.ok(printed.includes('admin.token') && !printed.includes('very-secret-admin-token'), printed);
});

test('dashboard server - ":0" listens on loopback only; no token configured refuses kick and drain', async (t) => {
  const bus = new MemoryBus();
  const d = await startDashboardServer({ addr: ':0', token: '', bus, statusWindowMs: 50 });
  t.after(() => d.close());
  assert.equal(d.address.host, '127.0.0.1');
  const base = `http://127.0.0.1:${d.address.port}`;
  for (const path of ['/api/kick', '/api/drain']) {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: 'Bearer ' },
      body: JSON.stringify({ uid: 1, id: 'x' }),
    });
    assert.equal(res.status, 401, path);
  }
  assert.equal(d.refused(), 2);
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>duet admin<\/title>/);
  const status = (await (await fetch(`${base}/api/status`)).json()) as { instances: unknown[] };
  assert.deepEqual(status.instances, []);
});

test('dashboard server - a live trace holds its lease while the page listens and ends it when the page leaves', async (t) => {
  const bus = new MemoryBus();
  const d = await startDashboardServer({ addr: '127.0.0.1:0', token: 'tok', bus });
  t.after(() => d.close());
  const leases: Record<string, unknown>[] = [];
  const sub = bus.subscribe('duet.trace.control');
  t.after(() => sub.drain());
  void (async () => {
    for await (const m of sub) leases.push(JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
  })();
  const abort = new AbortController();
  const res = await fetch(`http://127.0.0.1:${d.address.port}/api/trace?uid=7`, { signal: abort.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.equal(d.liveTraces(), 1);
  assert.equal(leases[0]?.uid, 7);
  abort.abort();
  await res.body?.cancel().catch(() => {});
  const deadline = Date.now() + 5000;
  while (d.liveTraces() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(d.liveTraces(), 0);
  assert.ok(
    leases.some((l) => l.release === true),
    'the lease is released when the page leaves',
  );
});
