import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Embedded, type EmbeddedOptions, startEmbedded, until } from '../harness/embedded.js';
import { type Received, WsTestClient } from '../harness/ws-client.js';

/**
 * The node's per-connection order: a handler that returns a promise holds only its own connection's later
 * messages (requests and events) until it settles; other connections are served meanwhile.
 */

type TestContext = { after: (fn: () => unknown) => void };
const SLOW = 20;
const dec = new TextDecoder();

async function embedded(t: TestContext, o: Partial<EmbeddedOptions>): Promise<Embedded> {
  const e = await startEmbedded({ heartbeatIntervalMs: 0, ...o });
  t.after(() => e[Symbol.asyncDispose]());
  return e;
}

async function client(t: TestContext, url: string): Promise<WsTestClient> {
  const c = await WsTestClient.connect(url);
  t.after(() => c[Symbol.asyncDispose]());
  return c;
}

function texts(frames: Received[]): string[] {
  return frames.map((f) => (f.packet?.kind === 'data' ? dec.decode(f.packet.body) : '?'));
}

test('node order - a slow handler holds its connection only: later requests wait, other connections do not', async (t) => {
  const release: (() => void)[] = [];
  const e = await embedded(t, {
    register(node) {
      // "wait" waits until the test releases it; anything else answers at once.
      node.addRoute(SLOW, async (ctx) => {
        const body = dec.decode(ctx.body);
        if (body === 'wait') await new Promise<void>((r) => release.push(r));
        ctx.response(body);
      });
    },
  });
  const a = await client(t, e.url);
  const b = await client(t, e.url);
  a.sendData(SLOW, a.nextSeq(), 'wait');
  for (let i = 0; i < 20; i++) a.sendData(SLOW, a.nextSeq(), `a${i}`);
  await until(() => release.length === 1, 'the slow handler to start');
  // b is served while a is held.
  assert.equal((await b.request(SLOW, 'b-first')).text, 'b-first');
  assert.equal(await a.nextOrNone(100), undefined, 'a stays held');
  release[0]?.();
  const got: Received[] = [];
  for (let i = 0; i < 21; i++) got.push(await a.next());
  assert.deepEqual(texts(got), ['wait', ...Array.from({ length: 20 }, (_, i) => `a${i}`)]);
  await until(() => e.node.counters.delivered === 22, 'every request delivered');
});

test('node order - an async connect handler runs before that connection’s first request', async (t) => {
  const log: string[] = [];
  let releaseConnect: (() => void) | undefined;
  const e = await embedded(t, {
    register(node) {
      node.on('connect', async (ctx) => {
        log.push(`connect ${ctx.cid}`);
        await new Promise<void>((r) => {
          releaseConnect = r;
        });
        log.push(`connected ${ctx.cid}`);
      });
      node.addRoute(SLOW, (ctx) => {
        log.push(`request ${ctx.cid}`);
        ctx.response(ctx.body);
      });
    },
  });
  const a = await client(t, e.url);
  await until(() => releaseConnect !== undefined, 'the connect handler to start');
  a.sendData(SLOW, a.nextSeq(), 'x');
  assert.equal(await a.nextOrNone(100), undefined, 'the request waits for the connect handler');
  releaseConnect?.();
  assert.equal(texts([await a.next()])[0], 'x');
  const cid = e.gate.sessions.all().next().value?.cid;
  assert.deepEqual(log, [`connect ${cid}`, `connected ${cid}`, `request ${cid}`]);
});

test('node order - a failing handler is counted and does not stall its connection', async (t) => {
  const e = await embedded(t, {
    register(node) {
      node.addRoute(SLOW, async (ctx) => {
        const body = dec.decode(ctx.body);
        await new Promise((r) => setImmediate(r));
        if (body === 'fail') throw new Error('handler failed on purpose');
        ctx.response(body);
      });
    },
  });
  const a = await client(t, e.url);
  a.sendData(SLOW, a.nextSeq(), 'fail');
  assert.equal((await a.request(SLOW, 'after')).text, 'after');
  assert.equal(e.node.counters.handlerErrors, 1);
});
