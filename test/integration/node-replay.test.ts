import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHAT_TICK_MS } from '../../scripts/make-captures.js';
import { replayNode } from '../../src/compose.js';
import { createDemoApp } from '../../src/demo/app.js';
import { GameRoute } from '../../src/demo/demo-messages.js';
import { Demo } from '../../src/demo/demo-proto.js';
import { DiagnosticRoute } from '../../src/demo/diagnostics.js';
import type { NodeApp } from '../../src/node/app.js';
import { formatNodeReplayReport } from '../../src/replay/node-replay.js';

/** replayNode(): bus captures of the demo node (scripts/make-captures.ts) fed to a node app in this process. */

const fixture = (name: string): string => new URL(`../fixtures/captures/${name}.capture`, import.meta.url).pathname;

/** The demo app with an echo that answers in upper case: the behaviour change a team would make by mistake. */
function shoutingDemo(): NodeApp {
  const demo = createDemoApp();
  return {
    name: demo.name,
    register(node) {
      node.router.use((ctx, next) => {
        if (ctx.route !== DiagnosticRoute.ECHO) return next();
        ctx.response(new TextEncoder().encode(new TextDecoder().decode(ctx.body).toUpperCase()));
      });
      return demo.register(node);
    },
    stop: () => demo.stop?.(),
  };
}

test('a recorded login, whoami, echo and logout replay into the demo app with no difference', async () => {
  const r = await replayNode({ app: createDemoApp(), capture: fixture('node-login-whoami') });
  assert.equal(r.ok, true, formatNodeReplayReport(r));
  assert.equal(r.fed, 5);
  assert.equal(r.compared, 6);
  assert.deepEqual(
    r.produced.map((o) => o.type),
    ['bind', 'response', 'response', 'response', 'unbind', 'response'],
  );
});

test('two logins as one user and a bystander replay into the demo app with no difference', async () => {
  const r = await replayNode({ app: createDemoApp(), capture: fixture('node-kick-same-uid') });
  assert.equal(r.ok, true, formatNodeReplayReport(r));
  assert.equal(r.produced.filter((o) => o.type === 'bind').length, 2);
});

test('an echo that uppercases shows as one changed response naming its route and seq', async () => {
  const r = await replayNode({ app: shoutingDemo(), capture: fixture('node-login-whoami') });
  assert.equal(r.ok, false);
  assert.equal(r.diffs.length, 1, formatNodeReplayReport(r));
  const d = r.diffs[0];
  assert.equal(d?.kind, 'changed');
  assert.equal(d?.route, DiagnosticRoute.ECHO);
  assert.equal(d?.seq, 3);
  assert.equal(d?.gid, 'gate-1');
  assert.equal(new TextDecoder().decode(d?.actual?.body), 'HELLO AFTER LOGIN');
  assert.equal(new TextDecoder().decode(d?.expected?.body), 'hello after login');
  assert.match(d?.message ?? '', /gate gate-1 op #3: response route 1 seq 3 to cid 1: body/);
});

test('a node that stops answering a route shows the recorded answers as missing', async () => {
  const demo = createDemoApp();
  const silent: NodeApp = {
    register(node) {
      node.router.use((ctx, next) => (ctx.route === DiagnosticRoute.WHOAMI ? undefined : next()));
      return demo.register(node);
    },
    stop: () => demo.stop?.(),
  };
  const r = await replayNode({ app: silent, capture: fixture('node-kick-same-uid'), stepTimeoutMs: 200 });
  const missing = r.diffs.filter((d) => d.kind === 'missing');
  assert.deepEqual(
    missing.map((d) => [d.route, d.seq, d.expected?.target]),
    [
      [DiagnosticRoute.WHOAMI, 2, 'cid 1'],
      [DiagnosticRoute.WHOAMI, 2, 'cid 2'],
    ],
  );
  assert.equal(r.diffs.length, 2, formatNodeReplayReport(r));
});

test('a recorded chat replays push for push: join notices and chat lines after the requests that caused them', async () => {
  const r = await replayNode({ app: createDemoApp({ tickMs: CHAT_TICK_MS }), capture: fixture('node-chat') });
  assert.equal(r.ok, true, formatNodeReplayReport(r));
  const texts = r.produced
    .filter((o) => o.type === 'publish' && o.route === GameRoute.CHAT_PUSH)
    .map((o) => Demo.ChatMessage.decode(o.body ?? new Uint8Array()).text);
  assert.deepEqual(texts, ['alice joined lobby', 'bob joined lobby', 'hi bob', 'hi alice', 'bob left', 'alice left']);
});

test('a node that acks chat without saying it to the room shows each chat line as a missing push', async () => {
  const demo = createDemoApp({ tickMs: CHAT_TICK_MS });
  const mute: NodeApp = {
    register(node) {
      node.router.use((ctx, next) =>
        ctx.route === GameRoute.CHAT ? ctx.response(Demo.Ack.encode({ error: '' })) : next(),
      );
      return demo.register(node);
    },
    stop: () => demo.stop?.(),
  };
  const r = await replayNode({ app: mute, capture: fixture('node-chat'), stepTimeoutMs: 200 });
  const diffs = r.diffs.map((d) => [d.kind, d.expected?.type, d.expected?.target, d.route, d.seq]);
  assert.deepEqual(diffs, [
    ['missing', 'publish', 'channel room:lobby', GameRoute.CHAT_PUSH, 0],
    ['missing', 'publish', 'channel room:lobby', GameRoute.CHAT_PUSH, 0],
  ]);
  const lines = r.diffs.map((d) => Demo.ChatMessage.decode(d.expected?.body ?? new Uint8Array()).text);
  assert.deepEqual(lines, ['hi bob', 'hi alice']);
});
