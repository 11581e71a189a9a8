import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagnosticRoute } from '../../src/demo/diagnostics.js';
import { ErrorCode } from '../../src/errors.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { connect } from '../harness/ws-client.js';

test('proxy - locateNodes, askGate/askNode, hasGate/hasNode, lists by state, deliverToUser through the locator', async (t) => {
  const got: string[] = [];
  const a = await startEmbedded({ nodeId: 'node-a', gateId: 'gate-a' });
  const shared = { bus: a.bus, locator: a.locator, registry: a.registry };
  const b = await startEmbedded({
    nodeId: 'node-b',
    withNode: true,
    gateId: 'gate-b',
    shared,
    register: (node) =>
      node.addRoute(90, (ctx) => void got.push(`${node.id} ${ctx.uid} ${new TextDecoder().decode(ctx.body)}`), {
        internal: true,
      }),
  });
  t.after(async () => {
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
  });
  const c = await connect(b.url);
  t.after(() => c.close());
  // Route 2 binds the user to whichever node served it: pin it to b by asking until b answers whoami.
  for (let i = 0; i < 20; i++) {
    await c.request(DiagnosticRoute.LOGIN, '77');
    if ((await c.request(DiagnosticRoute.WHOAMI)).text === '77@node-b') break;
  }
  const p = a.node.proxy;
  assert.deepEqual(await p.locateNodes(77), { game: 'node-b' });
  assert.equal(await p.askGate(77, 'gate-b'), true);
  assert.equal(await p.askGate(77, 'gate-a'), false);
  assert.equal(await p.askNode(77, 'game', 'node-b'), true);
  assert.equal(await p.askNode(77, 'game', 'node-a'), false);
  assert.equal(await p.hasGate('gate-a'), true);
  assert.equal(await p.hasGate('gate-x'), false);
  assert.equal(await p.hasNode('node-b'), true);
  assert.equal(await p.deliverToUser({ uid: 77, route: 90, body: 'hello' }), 'node-b');
  await until(() => got.length === 1, 'the delivery at node b');
  assert.deepEqual(got, ['node-b 77 hello']);
  await assert.rejects(
    p.deliverToUser({ uid: 78, route: 90 }),
    (err) => (err as { code?: string }).code === ErrorCode.SESSION_NOT_FOUND,
  );

  await b.node.setState('hang');
  assert.deepEqual(
    (await p.fetchNodeList('hang')).map((n) => n.id),
    ['node-b'],
  );
  assert.deepEqual(
    (await p.fetchNodeList('work')).map((n) => n.id),
    ['node-a'],
  );
  assert.equal((await p.fetchNodeList()).length, 2);
  assert.deepEqual((await p.fetchGateList('work')).map((g) => g.id).sort(), ['gate-a', 'gate-b']);
});
