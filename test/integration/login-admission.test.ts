import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { type Embedded, type EmbeddedOptions, startEmbedded, until } from '../harness/embedded.js';
import { HeldLocator, hold } from '../harness/held-locator.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * Login admission (src/gate/login-admission.ts, docs/ordering.md): in a login storm the gate forwards at most
 * cluster.gate.loginsInFlight requests of unbound sessions and leaves the other unbound sockets unread until
 * answers come back; bound sessions are never held. Real WebSocket clients, the demo node's login route (2), and a
 * locator whose gate binds wait until the test lets them go: logins that stay in flight as long as we like.
 */

type TestContext = { after: (fn: () => unknown) => void };

const ECHO = 1;
const LOGIN = 2;

async function rig(t: TestContext, o: Partial<EmbeddedOptions>): Promise<{ e: Embedded; locator: HeldLocator }> {
  const bus = new MemoryBus();
  const locator = new HeldLocator();
  const registry = new MemoryRegistry();
  const e = await startEmbedded({ heartbeatIntervalMs: 0, ...o, shared: { bus, locator, registry } });
  t.after(async () => {
    await e[Symbol.asyncDispose]();
    await bus.drain();
    await locator[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  });
  return { e, locator };
}

async function clients(t: TestContext, url: string, n: number): Promise<WsTestClient[]> {
  const out: WsTestClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await WsTestClient.connect(url);
    t.after(() => c[Symbol.asyncDispose]());
    out.push(c);
  }
  return out;
}

test('login admission - a storm is let in loginsInFlight at a time while bound and answered sessions are served; every login is answered', async (t) => {
  const { e, locator } = await rig(t, { loginsInFlight: 4 });
  const [player, visitor] = await clients(t, e.url, 2);
  assert.equal((await player?.request(LOGIN, '1'))?.text, '1');
  // Unbound but answered once (a client on stateless routes): past its first request, so never held.
  assert.equal((await visitor?.request(ECHO, 'hello'))?.text, 'hello');
  const storm = await clients(t, e.url, 12);
  const release = hold(locator);
  const calls = locator.bindCalls;
  const answers = storm.map((c, i) => c.request(LOGIN, String(100 + i), 10_000));
  await until(() => e.gate.admission.inFlight === 4 && e.gate.admission.holding === 8, 'four in flight, eight held');
  // Only the admitted four reached the node (each login's first step is its gate bind).
  await until(() => locator.bindCalls - calls === 4, 'four binds');
  assert.equal(locator.bindCalls - calls, 4);
  // The bound player is not held: its echo is answered while the storm waits.
  assert.equal((await player?.request(ECHO, 'still here'))?.text, 'still here');
  assert.equal((await visitor?.request(ECHO, 'me too'))?.text, 'me too');
  assert.equal(e.gate.admission.holding, 8);
  release();
  const texts = (await Promise.all(answers)).map((r) => r.text);
  assert.deepEqual(
    texts,
    storm.map((_, i) => String(100 + i)),
  );
  assert.equal(locator.bindCalls - calls, 12);
  assert.equal(e.gate.admission.inFlight, 0);
  assert.equal(e.gate.admission.holding, 0);
  assert.equal(e.gate.admission.stats.held, 8);
});

test('login admission - loginsInFlight = 0 forwards the whole storm at once', async (t) => {
  const { e, locator } = await rig(t, { loginsInFlight: 0 });
  const storm = await clients(t, e.url, 12);
  const release = hold(locator);
  const answers = storm.map((c, i) => c.request(LOGIN, String(200 + i), 10_000));
  await until(() => locator.bindCalls === 12, 'all twelve binds');
  assert.equal(e.gate.admission.holding, 0);
  release();
  assert.equal((await Promise.all(answers)).length, 12);
  assert.equal(e.gate.admission.stats.held, 0);
});

test('login admission - held sessions are not closed as silent, and one that leaves while held is closed', async (t) => {
  // Sessions silent for two intervals are closed; a held socket is silent only because the gate does not read it.
  const { e, locator } = await rig(t, { loginsInFlight: 2, heartbeatIntervalMs: 150 });
  const storm = await clients(t, e.url, 6);
  const beat = setInterval(() => {
    for (const c of storm) c.sendHeartbeat();
  }, 50);
  t.after(() => clearInterval(beat));
  const release = hold(locator);
  const answers = storm.slice(1).map((c, i) => c.request(LOGIN, String(300 + i), 10_000));
  await until(() => e.gate.admission.inFlight === 2 && e.gate.admission.holding === 4, 'two in flight, four held');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(e.gate.sessions.size, 6, 'no held session was closed by the heartbeat sweep');
  assert.equal(e.gate.admission.holding, 4);
  // The first client never logs in and leaves while held: its place in the queue is given up.
  storm[0]?.terminate();
  await until(() => e.gate.sessions.size === 5, 'the client that left is gone');
  release();
  assert.equal((await Promise.all(answers)).length, 5);
  assert.equal(e.gate.sessions.size, 5);
  assert.equal(e.gate.admission.inFlight, 0);
  assert.equal(e.gate.admission.holding, 0);
});

test('login admission - requests nobody answers stop counting after callTimeout, so the held sessions still get in', async (t) => {
  const SILENT = 50;
  let reached = 0;
  const { e } = await rig(t, {
    loginsInFlight: 2,
    callTimeoutMs: 200,
    register: (node) =>
      node.addRoute(SILENT, () => {
        reached++;
      }),
  });
  const storm = await clients(t, e.url, 6);
  for (const c of storm) c.sendData(SILENT, c.nextSeq(), 'hello?');
  await until(() => reached === 2 && e.gate.admission.holding === 4, 'two in flight, four held');
  // never answered: each pair expires after callTimeout and lets the next ones in
  await until(() => reached === 6, 'every request forwarded in the end');
  await until(() => e.gate.admission.inFlight === 0, 'nothing counted in flight');
  assert.equal(e.gate.admission.holding, 0);
  assert.ok(e.gate.admission.stats.expired >= 4, `expired ${e.gate.admission.stats.expired}`);
});
