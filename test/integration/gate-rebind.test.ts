import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionKind } from '../../src/bus/envelope.js';
import { CloseCode } from '../../src/errors.js';
import { type Embedded, startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * Re-assertion after the locator lost its bindings (MemoryLocator.reset stands for a store restarted empty): the
 * gate claims its bound sessions' uids and the node its bindNode bindings; a uid another gate bound in between is
 * a newer login, so the session here is displaced (4003) instead of overwriting it.
 */

const LOGIN = 2;

type TestContext = { after: (fn: () => unknown) => void };

async function pair(t: TestContext): Promise<{ a: Embedded; b: Embedded }> {
  const a = await startEmbedded({ heartbeatIntervalMs: 0, gateId: 'gate-a', nodeId: 'node-1' });
  const shared = { bus: a.bus, locator: a.locator, registry: a.registry };
  const b = await startEmbedded({ heartbeatIntervalMs: 0, gateId: 'gate-b', shared, withNode: false });
  // Clients, then gate b, then a (it owns the shared adapters).
  t.after(async () => {
    for (const c of opened.splice(0)) await c[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
  });
  return { a, b };
}

const opened: WsTestClient[] = [];

async function login(e: Embedded, uid: number): Promise<WsTestClient> {
  const c = await WsTestClient.connect(e.url);
  opened.push(c);
  assert.equal((await c.request(LOGIN, String(uid))).text, String(uid));
  return c;
}

test('gate rebind - after the store lost every binding, gate and node bindings are claimed again', async (t) => {
  const { a, b } = await pair(t);
  const uids = Array.from({ length: 300 }, (_, i) => 5000 + i);
  const clients = await Promise.all(uids.map((uid) => login(uid % 2 === 0 ? a : b, uid)));
  a.locator.reset();
  assert.equal(await a.locator.locateGate(5000), undefined);
  await until(() => a.node.held.stats.runs === 1, 'the node re-assert pass');
  for (const uid of uids) {
    assert.equal(await a.locator.locateGate(uid), uid % 2 === 0 ? 'gate-a' : 'gate-b', `gate of ${uid}`);
    assert.equal(await a.locator.locateNode(uid, 'game'), 'node-1', `node of ${uid}`);
  }
  assert.equal(a.node.held.stats.kept, uids.length);
  const delivered = await a.node.proxy.push({ kind: SessionKind.USER, target: 5001, route: 9, body: 'x', ack: true });
  assert.equal(delivered, 1);
  for (const c of clients) assert.equal(c.isOpen, true);
});

test('gate rebind - a uid another gate bound before the claim displaces the session here (4003)', async (t) => {
  const { a, b } = await pair(t);
  const held = await login(a, 6001);
  a.locator.reset();
  // A newer login elsewhere, written before gate a's claim runs (the claim pass starts on a later turn).
  await a.locator.bindGate(6001, b.gate.id);
  assert.equal((await held.waitClose(5000)).code, CloseCode.DISPLACED);
  assert.equal(await a.locator.locateGate(6001), b.gate.id, 'the newer binding was not overwritten');
  await until(() => a.gate.sessions.byUid(6001) === undefined, 'the displaced session unindexed');
});
