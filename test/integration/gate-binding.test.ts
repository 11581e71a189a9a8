import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode } from '../../src/errors.js';
import { type Embedded, type EmbeddedOptions, startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * uid binding through the diagnostic routes (docs/architecture.md): login binds gate and node, whoami shows the pinned node,
 * logout unbinds; a second login of one uid closes the first session (due#90); per-connection order under load.
 */

type TestContext = { after: (fn: () => unknown) => void };

const ECHO = 1;
const LOGIN = 2;
const WHOAMI = 3;
const LOGOUT = 4;

async function embedded(t: TestContext, o: Partial<EmbeddedOptions> = {}): Promise<Embedded> {
  const e = await startEmbedded({ heartbeatIntervalMs: 0, ...o });
  t.after(() => e[Symbol.asyncDispose]());
  return e;
}

async function client(t: TestContext, url: string): Promise<WsTestClient> {
  const c = await WsTestClient.connect(url);
  t.after(() => c[Symbol.asyncDispose]());
  return c;
}

test('gate binding - login binds the session: whoami answers uid@nodeId', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  assert.equal(e.gate.sessions.size, 1);
  assert.equal(e.gate.sessions.boundCount, 0);
  assert.equal((await c.request(LOGIN, '42')).text, '42');
  assert.equal(e.gate.sessions.boundCount, 1);
  assert.equal(e.gate.sessions.byUid(42)?.uid, 42);
  assert.equal(await e.locator.locateGate(42), e.gate.id);
  assert.equal(await e.locator.locateNode(42, e.node.name), e.node.id);
  const who = await c.request(WHOAMI);
  assert.equal(who.text, `42@${e.node.id}`);
  assert.equal(who.route, WHOAMI);
});

test('gate binding - whoami before login is dropped at the gate (stateful route while unbound)', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  c.sendData(WHOAMI, c.nextSeq());
  assert.equal(await c.nextOrNone(300), undefined, 'no answer');
  assert.equal(e.gate.counters.drops.unbound_stateful, 1);
  assert.equal(e.node.counters.delivered, 0, 'the node never saw it');
  assert.ok(c.isOpen);
  assert.equal((await c.request(ECHO, 'still fine')).text, 'still fine');
});

test('gate binding - a bad login body is answered with an error and binds nothing', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  assert.match((await c.request(LOGIN, 'not-a-number')).text, /^error: /);
  assert.equal(e.gate.sessions.boundCount, 0);
  c.sendData(WHOAMI, c.nextSeq());
  assert.equal(await c.nextOrNone(200), undefined);
});

test('gate binding - a second login of the same uid closes the first session with 4003 (due#90)', async (t) => {
  const disconnects: { cid: number; uid: number }[] = [];
  const e = await embedded(t, {
    register: (node) => {
      node.on('disconnect', (ctx) => {
        disconnects.push({ cid: ctx.cid, uid: ctx.uid });
      });
    },
  });
  const first = await client(t, e.url);
  await first.request(LOGIN, '42');
  const firstCid = e.gate.sessions.byUid(42)?.cid;
  const second = await client(t, e.url);
  assert.equal((await second.request(LOGIN, '42')).text, '42');
  const closed = await first.waitClose();
  assert.equal(closed.code, CloseCode.DISPLACED);
  assert.match(closed.reason, /uid bound again/);
  // the displaced session's disconnect carries uid 0, so the app's handler leaves the node binding to the new one
  await until(() => disconnects.some((d) => d.cid === firstCid), 'the first session to disconnect');
  assert.deepEqual(
    disconnects.find((d) => d.cid === firstCid),
    { cid: firstCid, uid: 0 },
  );
  assert.equal((await second.request(WHOAMI)).text, `42@${e.node.id}`);
  assert.equal(await e.locator.locateGate(42), e.gate.id);
  assert.equal(e.gate.sessions.size, 1);
  assert.equal(e.gate.sessions.boundCount, 1);
  assert.notEqual(e.gate.sessions.byUid(42)?.cid, firstCid);
  const displaced = e.trace.records.find((r) => r.cid === firstCid && r.event === 'session.displaced');
  assert.ok(displaced, 'the displacement is in the trace');
  assert.equal(displaced.from, 'active.bound');
  assert.equal(displaced.to, 'closing');
  assert.match(displaced.reason, /uid bound again by cid \d+/);
});

test('gate binding - the same client logging in again with its own uid is a no-op', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  await c.request(LOGIN, '5');
  await c.request(LOGIN, '5');
  assert.equal(await c.nextOrNone(100), undefined);
  assert.ok(c.isOpen);
  assert.equal((await c.request(WHOAMI)).text, `5@${e.node.id}`);
  assert.equal(e.trace.records.filter((r) => r.event === 'node.bound').length, 1, 'one bind transition');
});

test('gate binding - logging in as another uid moves the session to that uid', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  await c.request(LOGIN, '5');
  await c.request(LOGIN, '6');
  assert.equal(e.gate.sessions.byUid(5), undefined);
  assert.equal(e.gate.sessions.byUid(6)?.uid, 6);
  assert.equal(e.gate.sessions.boundCount, 1);
  assert.equal(await e.locator.locateGate(5), undefined, 'the old uid was released');
  assert.equal((await c.request(WHOAMI)).text, `6@${e.node.id}`);
});

test('gate binding - logout unbinds: whoami is dropped again, and the counts follow', async (t) => {
  const e = await embedded(t);
  const a = await client(t, e.url);
  const b = await client(t, e.url);
  await a.request(LOGIN, '1');
  await b.request(LOGIN, '2');
  assert.equal(e.gate.sessions.size, 2);
  assert.equal(e.gate.sessions.boundCount, 2);
  assert.equal((await a.request(LOGOUT)).body.length, 0);
  assert.equal(e.gate.sessions.boundCount, 1);
  assert.equal(e.gate.sessions.byUid(1), undefined);
  assert.equal(await e.locator.locateGate(1), undefined);
  assert.equal(await e.locator.locateNode(1, e.node.name), undefined);
  a.sendData(WHOAMI, a.nextSeq());
  assert.equal(await a.nextOrNone(300), undefined, 'whoami after logout is dropped');
  assert.equal((await b.request(WHOAMI)).text, `2@${e.node.id}`);
  await b.close();
  await until(() => e.gate.sessions.size === 1, 'b to leave the table');
  assert.equal(e.gate.sessions.boundCount, 0);
  assert.equal(await e.locator.locateGate(2), undefined, 'closing released the uid in the locator');
});

test('gate binding - stateful and stateless frames pipelined right after login keep their order', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  await c.request(LOGIN, '77');
  // The first whoami misses the gate's node cache and waits for a locator lookup; what follows must wait behind it.
  const expected: string[] = [];
  for (let i = 0; i < 50; i++) {
    c.sendData(WHOAMI, c.nextSeq());
    expected.push(`77@${e.node.id}`);
    c.sendData(ECHO, c.nextSeq(), `echo-${i}`);
    expected.push(`echo-${i}`);
  }
  const got: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const r = await c.next({ timeoutMs: 3000 });
    got.push(r.packet?.kind === 'data' ? Buffer.from(r.packet.body).toString() : 'not data');
  }
  assert.deepEqual(got, expected);
});

test('gate binding - 10,000 pipelined echoes come back complete and in order', async (t) => {
  const e = await embedded(t);
  const c = await client(t, e.url);
  const total = 10_000;
  const window = 500;
  const startedAt = performance.now();
  for (let base = 0; base < total; base += window) {
    const seqs: number[] = [];
    for (let i = base; i < Math.min(total, base + window); i++) {
      const seq = c.nextSeq();
      seqs.push(seq);
      c.sendData(ECHO, seq, `msg-${i}`);
    }
    for (let k = 0; k < seqs.length; k++) {
      const r = await c.next({ timeoutMs: 5000 });
      const p = r.packet;
      assert.ok(p?.kind === 'data', 'a data packet');
      const i = base + k;
      if (p.seq !== seqs[k] || Buffer.from(p.body).toString() !== `msg-${i}`) {
        assert.fail(`message ${i}: got seq ${p.seq} body ${Buffer.from(p.body).toString()}, expected seq ${seqs[k]}`);
      }
    }
  }
  const ms = performance.now() - startedAt;
  t.diagnostic(`${total} echoes in ${ms.toFixed(0)} ms (${((total / ms) * 1000).toFixed(0)}/s, window ${window})`);
  assert.equal(c.inbox.length, 0);
  assert.equal(e.gate.counters.forwarded, total);
});

test('gate binding - a login on another gate closes the session on the first gate', async (t) => {
  const a = await startEmbedded({ heartbeatIntervalMs: 0 });
  const b = await startEmbedded({
    heartbeatIntervalMs: 0,
    shared: { bus: a.bus, locator: a.locator, registry: a.registry },
    withNode: false,
  });
  // b runs on a's adapters: stop it first
  t.after(async () => {
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
  });
  const onA = await client(t, a.url);
  await onA.request(LOGIN, '42');
  const onB = await client(t, b.url);
  assert.equal((await onB.request(LOGIN, '42')).text, '42');
  const closed = await onA.waitClose();
  assert.equal(closed.code, CloseCode.DISPLACED);
  assert.equal((await onB.request(WHOAMI)).text, `42@${a.node.id}`);
  assert.equal(await a.locator.locateGate(42), b.gate.id);
  await until(() => a.gate.sessions.size === 0, 'the displaced session to leave gate A');
  assert.equal(b.gate.sessions.boundCount, 1);
  assert.equal(b.gate.sessions.byUid(42)?.isActive, true);
  assert.equal(a.gate.sessions.byUid(42), undefined, 'gate A no longer indexes uid 42');
  assert.equal(a.gate.sessions.boundCount, 0);
});
