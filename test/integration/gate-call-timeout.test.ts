import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import type { ResumeOptions } from '../../src/gate/resume.js';
import { signResumeToken } from '../../src/gate/resume-token.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { startEmbedded } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/** cluster.gate.callTimeout bounds the gate's requests to other gates: a takeover that gets no answer fails then. */

const RESUME: ResumeOptions = {
  windowMs: 5000,
  bufferMessages: 100,
  bufferBytes: 1 << 16,
  route: -1,
  secret: 'a-test-secret-of-at-least-32-bytes!!',
};

test('gate callTimeout - a takeover the other gate never answers is refused after callTimeout', async (t) => {
  const shared = { bus: new MemoryBus(), locator: new MemoryLocator(), registry: new MemoryRegistry() };
  const e = await startEmbedded({ shared, resume: RESUME, callTimeoutMs: 200, heartbeatIntervalMs: 0 });
  // A "gate" that takes takeover requests and never answers them.
  let asked = 0;
  const ghost = shared.bus.subscribe(new Subjects().gateTakeover('gate-ghost'));
  void (async () => {
    for await (const _ of ghost) asked++;
  })();
  t.after(async () => {
    await ghost.drain();
    await e[Symbol.asyncDispose]();
    await shared.bus.drain();
  });
  const c = await WsTestClient.connect(e.url);
  t.after(() => c[Symbol.asyncDispose]());
  const token = signResumeToken(
    { gid: 'gate-ghost', cid: 1, uid: 77, epoch: 1, exp: Date.now() + 60_000 },
    RESUME.secret,
  );
  const startedAt = Date.now();
  c.sendData(RESUME.route, 0, JSON.stringify({ type: 'resume', token, seen: 0 }));
  const failed = await c.next({
    timeoutMs: 5000,
    match: (r) => r.packet?.kind === 'data' && r.packet.route === RESUME.route,
  });
  const elapsed = Date.now() - startedAt;
  const body = JSON.parse(Buffer.from(failed.packet?.kind === 'data' ? failed.packet.body : []).toString()) as {
    type: string;
    error: string;
  };
  assert.equal(body.type, 'resumeFailed');
  assert.match(body.error, /gate gate-ghost unreachable/);
  assert.equal(asked, 1);
  // The default (3 s) or the old fixed 2 s would not be over by now.
  assert.ok(elapsed < 1500, `refused after ${elapsed} ms with callTimeout 200 ms`);
  // The connection goes on as a new session.
  assert.equal((await c.request(1, 'still here')).text, 'still here');
});
