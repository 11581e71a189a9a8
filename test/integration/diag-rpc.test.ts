import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagnosticRoute } from '../../src/demo/diagnostics.js';
import { ErrorCode } from '../../src/errors.js';
import { startEmbedded } from '../harness/embedded.js';
import { connect } from '../harness/ws-client.js';

test('diag rpc - route 6 calls diag.whoami through the balancing; a missing service answers its error code', async (t) => {
  const a = await startEmbedded({ nodeId: 'node-a', gateId: 'gate-a' });
  const shared = { bus: a.bus, locator: a.locator, registry: a.registry };
  const b = await startEmbedded({ nodeId: 'node-b', gateId: 'gate-b', shared });
  // b shares a's adapters: stopped first.
  t.after(async () => {
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
  });
  const c = await connect(a.url);
  t.after(() => c.close());

  const answers = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const r = await c.request(DiagnosticRoute.RPC, i % 2 === 0 ? '' : 'diag');
    const m = /^(node-[ab])->(node-[ab])$/.exec(r.text);
    assert.ok(m, `unexpected answer ${r.text}`);
    answers.add(m[2] as string);
  }
  assert.deepEqual([...answers].sort(), ['node-a', 'node-b'], 'both nodes answered');

  assert.equal((await c.request(DiagnosticRoute.RPC, 'nobody')).text, `error:${ErrorCode.NO_INSTANCE}`);
  assert.equal((await c.request(DiagnosticRoute.RPC, 'bad.name')).text, `error:${ErrorCode.ILLEGAL_OPERATION}`);
});

test('diag counter - route 7 counts in one actor across two nodes and gates: 1..N, no duplicate', async (t) => {
  const a = await startEmbedded({ nodeId: 'node-a', gateId: 'gate-a' });
  const shared = { bus: a.bus, locator: a.locator, registry: a.registry };
  const b = await startEmbedded({ nodeId: 'node-b', gateId: 'gate-b', shared });
  t.after(async () => {
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
  });
  const clients = await Promise.all([connect(a.url), connect(b.url), connect(a.url), connect(b.url)]);
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const N = 40;
  const answers = await Promise.all(
    Array.from({ length: N }, (_, i) => (clients[i % clients.length] as (typeof clients)[0]).request(7, 'hits', 5000)),
  );
  const counts = answers.map((r) => Number(r.text)).sort((x, y) => x - y);
  assert.deepEqual(
    counts,
    Array.from({ length: N }, (_, i) => i + 1),
  );
  assert.equal(a.node.actors.cluster.counters.activations + b.node.actors.cluster.counters.activations, 1);
  assert.equal(
    (await (clients[0] as (typeof clients)[0]).request(7, 'x'.repeat(200))).text,
    `error:${ErrorCode.ILLEGAL_OPERATION}`,
  );
});
