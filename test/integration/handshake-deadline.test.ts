import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseCode } from '../../src/errors.js';
import type { ResumeOptions } from '../../src/gate/resume.js';
import { type Embedded, type EmbeddedOptions, startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * Every session state has a deadline: with resume on, a connection waits in handshake for its
 * first frame; one that never sends it is closed by the heartbeat and authorize deadlines, like an active one, so
 * silent connections cannot hold every slot (maxConnNum) for ever.
 */

type TestContext = { after: (fn: () => unknown) => void };

const RESUME: ResumeOptions = {
  windowMs: 5000,
  bufferMessages: 100,
  bufferBytes: 1 << 16,
  route: -1,
  secret: 'a-test-secret-of-at-least-32-bytes!!',
};

async function embedded(t: TestContext, o: Partial<EmbeddedOptions>): Promise<Embedded> {
  const e = await startEmbedded({ resume: RESUME, ...o });
  t.after(() => e[Symbol.asyncDispose]());
  return e;
}

async function silent(t: TestContext, url: string): Promise<WsTestClient> {
  const c = await WsTestClient.connect(url);
  t.after(() => c[Symbol.asyncDispose]());
  return c;
}

test('handshake deadline - resume on: a connection that never sends a frame is closed by the heartbeat (4001)', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 100, authorizeTimeoutMs: 0 });
  const c = await silent(t, e.url);
  assert.equal([...e.gate.sessions.all()][0]?.state, 'handshake');
  const closed = await c.waitClose(5000);
  assert.equal(closed.code, CloseCode.HEARTBEAT_TIMEOUT);
  await until(() => e.gate.sessions.size === 0, 'the session to be released');
});

test('handshake deadline - resume on: the authorize deadline runs from the open, handshake included (4002)', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 0, authorizeTimeoutMs: 200 });
  const c = await silent(t, e.url);
  assert.equal((await c.waitClose(5000)).code, CloseCode.AUTHORIZE_TIMEOUT);
  await until(() => e.gate.sessions.size === 0, 'the session to be released');
});

test('handshake deadline - resume on: silent connections at maxConnNum are reaped and new clients get in', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 100, maxConnNum: 5 });
  const squatters = await Promise.all(Array.from({ length: 5 }, () => silent(t, e.url)));
  const refused = await WsTestClient.tryConnect(e.url);
  assert.ok(!(refused instanceof WsTestClient), 'full while the silent ones hold every slot');
  if (!(refused instanceof WsTestClient)) assert.equal(refused.status, 503);
  for (const s of squatters) assert.equal((await s.waitClose(5000)).code, CloseCode.HEARTBEAT_TIMEOUT);
  await until(() => e.gate.sessions.size === 0, 'the slots to be freed');
  const fresh = await silent(t, e.url);
  assert.equal((await fresh.request(1, 'in')).text, 'in');
});

test('handshake deadline - a connection that does send its first frame is not cut short by the handshake', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 150, authorizeTimeoutMs: 0 });
  const c = await silent(t, e.url);
  for (let i = 0; i < 6; i++) {
    assert.equal((await c.request(1, `ping ${i}`)).text, `ping ${i}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(c.isOpen);
});
