import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TakeoverCodec, TakeoverReplyCodec } from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import type { ResumeOptions } from '../../src/gate/resume.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { startCutProxy } from '../harness/cut-proxy.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * Control operations a bus client could forge with a well-formed payload: a resume takeover with a guessed epoch
 * (the gate handing over now checks the client's resume token, signed with the gates' shared secret).
 */

const RESUME: ResumeOptions = {
  windowMs: 5000,
  bufferMessages: 100,
  bufferBytes: 1 << 16,
  route: -1,
  secret: 'x'.repeat(32),
};

test('forged control - a takeover without the client resume token is refused and counted; the session stays', async (t) => {
  const shared = { bus: new MemoryBus(), locator: new MemoryLocator(), registry: new MemoryRegistry() };
  const a = await startEmbedded({ shared, resume: RESUME, gateId: 'gate-a', nodeId: 'node-1', heartbeatIntervalMs: 0 });
  const proxy = await startCutProxy(a.port);
  t.after(async () => {
    await proxy[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
    await shared.bus.drain();
  });
  const c = await WsTestClient.connect(proxy.url);
  t.after(() => c[Symbol.asyncDispose]());
  assert.equal((await c.request(2, '4002')).text, '4002');
  proxy.cutAll();
  await until(() => a.gate.sessions.byUid(4002)?.isSuspended === true, 'the session suspended');
  const s = a.gate.sessions.byUid(4002);
  assert.ok(s);
  // Everything right but the token: cid, uid and even the current epoch.
  const forged = TakeoverCodec.encode({ cid: s.cid, uid: 4002, epoch: s.epoch, seen: 0, gid: 'gate-evil', token: '' });
  const bytes = await shared.bus.request(new Subjects().gateTakeover('gate-a'), forged, { timeoutMs: 2000 });
  const reply = TakeoverReplyCodec.decode(bytes);
  assert.equal(reply.ok, false);
  assert.match(reply.error, /bad resume token/);
  assert.equal(a.gate.resume.counters.takeoversRefused, 1);
  assert.equal(a.gate.resume.counters.handedOver, 0);
  assert.equal(a.gate.sessions.byUid(4002)?.isSuspended, true, 'still suspended here, not handed over');
});
