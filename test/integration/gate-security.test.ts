// Route security through a whole gate (issue 10, docs/protocol.md, Errors): authorized routes need a bound session,
// internal routes are never reachable from a client but are from another node. Stateful-while-unbound is covered in
// gate-binding.test.ts and origins in gate-admission.test.ts.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { RequestContext } from '../../src/node/context.js';
import { Node } from '../../src/node/node.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const Route = { ECHO: 1, LOGIN: 2, RPC: 6, COUNTER: 7, PROFILE: 30, FORWARD: 31, SECRET: 32 } as const;
const SILENCE_MS = 300;

interface Call {
  uid: number;
  cid: number;
  gid: string;
  nid: string;
  body: string;
}

/** A gate + node with an authorized route, an internal route, and a public route that forwards to the internal one. */
async function start(t: TestContext) {
  const secretCalls: Call[] = [];
  const record = (ctx: RequestContext): void => {
    secretCalls.push({
      uid: ctx.uid,
      cid: ctx.cid,
      gid: ctx.gid,
      nid: ctx.nid,
      body: Buffer.from(ctx.body).toString(),
    });
  };
  const e = await startEmbedded({
    nodeId: 'node-a',
    register: (node) => {
      node.addRoute(Route.PROFILE, (ctx) => ctx.response(`profile of ${ctx.uid}`), { authorized: true });
      node.addRoute(Route.SECRET, record, { internal: true });
      node.addRoute(Route.FORWARD, (ctx) => {
        ctx.deliver(node.id, Route.SECRET, ctx.body.slice());
        ctx.response('forwarded');
      });
    },
  });
  t.after(() => e[Symbol.asyncDispose]());
  const c = await connect(e.url);
  t.after(() => c[Symbol.asyncDispose]());
  return { e, c, secretCalls };
}

async function login(c: WsTestClient, uid: number): Promise<void> {
  assert.equal((await c.request(Route.LOGIN, String(uid))).text, String(uid));
}

const answerOn =
  (route: number) =>
  (r: { packet?: { kind: string; route?: number } }): boolean =>
    r.packet?.kind === 'data' && r.packet.route === route;

test('gate security - an authorized route is dropped for an unbound session and served after login', async (t) => {
  const { e, c } = await start(t);
  c.sendData(Route.PROFILE, c.nextSeq(), 'me');
  assert.equal(await c.nextOrNone(SILENCE_MS, answerOn(Route.PROFILE)), undefined);
  assert.equal(e.gate.counters.drops.unbound_authorized, 1);
  assert.equal(e.node.counters.delivered, 0, 'the frame never left the gate');

  await login(c, 77);
  assert.equal((await c.request(Route.PROFILE, 'me')).text, 'profile of 77');

  // Logging out makes it unreachable again.
  await c.request(4);
  c.sendData(Route.PROFILE, c.nextSeq(), 'me');
  assert.equal(await c.nextOrNone(SILENCE_MS, answerOn(Route.PROFILE)), undefined);
  assert.equal(e.gate.counters.drops.unbound_authorized, 2);
});

test('gate security - an internal route is never reachable from a client, bound or not', async (t) => {
  const { e, c, secretCalls } = await start(t);
  c.sendData(Route.SECRET, c.nextSeq(), 'unbound');
  await login(c, 5);
  c.sendData(Route.SECRET, c.nextSeq(), 'bound');
  c.sendData(Route.SECRET, 0, 'as a push');
  // An echo sent after them returns once the gate has handled them (one connection keeps its order).
  await c.request(Route.ECHO, 'sync');
  await until(() => e.gate.counters.drops.internal_route === 3, 'three internal-route drops');
  assert.deepEqual(secretCalls, []);
  assert.equal(await c.nextOrNone(SILENCE_MS, answerOn(Route.SECRET)), undefined);
});

test('gate security - an internal route is reachable node to node: ctx.deliver and proxy.deliver', async (t) => {
  const { e, c, secretCalls } = await start(t);
  await login(c, 9);
  // A public handler forwards to the internal route, keeping the session's ids.
  assert.equal((await c.request(Route.FORWARD, 'via ctx')).text, 'forwarded');
  await until(() => secretCalls.length === 1, 'internal handler ran');
  assert.equal(secretCalls[0]?.body, 'via ctx');
  assert.equal(secretCalls[0]?.uid, 9);
  assert.equal(secretCalls[0]?.nid, 'node-a', 'a node-to-node delivery names its sender');
  assert.equal(secretCalls[0]?.gid, '', 'and no gate');

  // A second node on the same bus reaches it through its proxy.
  const b = new Node({
    id: 'node-b',
    name: 'other',
    bus: e.bus,
    locator: e.locator,
    registry: e.registry,
    codec: e.codec,
  });
  await b.start();
  t.after(() => b.stop());
  b.proxy.deliver({ nid: 'node-a', route: Route.SECRET, body: 'via proxy', uid: 9 });
  await until(() => secretCalls.length === 2, 'internal handler ran for node-b');
  assert.deepEqual(
    { body: secretCalls[1]?.body, nid: secretCalls[1]?.nid, uid: secretCalls[1]?.uid },
    { body: 'via proxy', nid: 'node-b', uid: 9 },
  );
  assert.equal(e.gate.counters.drops.internal_route, 0);
});

test('gate security - a sweep over routes -8..40 from an unbound client answers only the public routes', async (t) => {
  const { e, c, secretCalls } = await start(t);
  for (let route = -8; route <= 40; route++) c.sendData(route, c.nextSeq(), 'x');
  await c.request(Route.ECHO, 'sync');
  const answered = new Set(
    c.inbox.filter((r) => r.packet?.kind === 'data').map((r) => (r.packet as { route: number }).route),
  );
  // echo, login (an error answer for body "x"), the stateless diagnostics rpc and counter, and forward; never
  // profile (authorized), whoami/logout (stateful), or the internal route.
  assert.deepEqual(
    [...answered].sort((a, b) => a - b),
    [Route.ECHO, Route.LOGIN, Route.RPC, Route.COUNTER, Route.FORWARD],
  );
  const d = e.gate.counters.drops;
  assert.equal(d.internal_route, 1);
  assert.equal(d.unbound_authorized, 1);
  assert.equal(d.unbound_stateful, 2);
  assert.equal(d.unknown_route, 49 - 9);
  // The forward route did deliver node to node, which is allowed.
  await until(() => secretCalls.length === 1, 'forwarded delivery');
});
