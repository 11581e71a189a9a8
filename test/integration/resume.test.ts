/**
 * Resumable sessions (issue 11) on the embedded cluster: two gates on one in-process bus, locator and registry, a
 * TCP relay that cuts connections without close frames, and the duet client reconnecting on its own.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Client } from '../../src/client/index.js';
import type { ResumeOptions } from '../../src/gate/resume.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import type { Node } from '../../src/node/node.js';
import { SessionKind } from '../../src/node/proxy.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { type CutProxy, startCutProxy } from '../harness/cut-proxy.js';
import { type Embedded, startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

const BURST = 20;
const KICK = 21;
const NUMBERED = 120;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Seen {
  resume: number;
  disconnect: number;
  connect: number;
}

/** Pushes N numbered messages to the caller's uid (located per push, so they follow a resume to another gate). */
function app(seen: Map<number, Seen>) {
  const of = (uid: number): Seen => {
    const s = seen.get(uid) ?? { resume: 0, disconnect: 0, connect: 0 };
    seen.set(uid, s);
    return s;
  };
  return (node: Node): void => {
    node.on('resume', (ctx) => {
      of(ctx.uid).resume++;
    });
    node.on('disconnect', (ctx) => {
      of(ctx.uid).disconnect++;
    });
    node.on('connect', (ctx) => {
      of(ctx.uid).connect++;
    });
    node.addRoute(BURST, async (ctx) => {
      const n = Number(dec(ctx.body));
      const uid = ctx.uid;
      for (let i = 1; i <= n; i++) {
        await node.proxy
          .push({ kind: SessionKind.USER, target: uid, route: NUMBERED, body: String(i) })
          .catch(() => {});
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    });
    node.addRoute(KICK, async (ctx) => {
      await node.proxy.disconnect({ kind: SessionKind.USER, target: Number(dec(ctx.body)) }).catch(() => {});
      ctx.response('ok');
    });
  };
}

const RESUME: ResumeOptions = {
  windowMs: 5000,
  bufferMessages: 2000,
  bufferBytes: 1 << 20,
  route: -1,
  secret: 'test-secret',
};

async function cluster(t: { after(fn: () => Promise<void>): void }, resume: Partial<ResumeOptions> = {}) {
  const seen = new Map<number, Seen>();
  const shared = { bus: new MemoryBus(), locator: new MemoryLocator(), registry: new MemoryRegistry() };
  const opts = { ...RESUME, ...resume };
  const a = await startEmbedded({ shared, resume: opts, register: app(seen), gateId: 'gate-a', nodeId: 'node-1' });
  const b = await startEmbedded({ shared, resume: opts, withNode: false, gateId: 'gate-b' });
  const proxy = await startCutProxy(a.port);
  t.after(async () => {
    await proxy[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
    await shared.bus.drain();
  });
  return { a, b, proxy, seen };
}

function player(proxy: CutProxy, t: { after(fn: () => Promise<void>): void }) {
  const c = new Client({
    url: proxy.url,
    WebSocket: WebSocket as never,
    heartbeat: { intervalMs: 0 },
    reconnect: { initialDelayMs: 30, maxDelayMs: 200, jitter: 0 },
    requestTimeoutMs: 3000,
  });
  const numbers: number[] = [];
  const events: string[] = [];
  c.on('push', (p) => {
    if (p.route === NUMBERED) numbers.push(Number(dec(p.body)));
  });
  c.on('resumed', (r) => events.push(`resumed:${r.replayed}`));
  c.on('resumeFailed', (r) => events.push(`failed:${r.error}`));
  t.after(() => c.close().catch(() => {}));
  return { c, numbers, events };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('resume - a dropped connection comes back to the same bound session', () => {
  test('resume - same gate: 1,000 numbered pushes arrive in order, no duplicates, one resume event, no disconnect', async (t) => {
    const { a, proxy, seen } = await cluster(t);
    const p = player(proxy, t);
    await p.c.connect();
    assert.equal(dec((await p.c.request(2, enc('77'))).body), '77');
    p.c.send(BURST, enc('1000'));
    await until(() => p.numbers.length >= 150, 'some pushes before the cut');
    proxy.cutAll();
    await until(() => p.events.length > 0, 'the resume answer');
    assert.match(p.events[0] ?? '', /^resumed:/);
    await until(() => p.numbers.length >= 1000, 'all 1,000 pushes', 10_000);
    assert.deepEqual(p.numbers, range(1000));
    await until(() => (seen.get(77)?.resume ?? 0) === 1, 'the resume event');
    assert.equal(seen.get(77)?.disconnect ?? 0, 0);
    assert.equal(a.gate.resume.counters.resumedLocal, 1);
    // The session kept its uid binding and still answers stateful routes.
    assert.match(dec((await p.c.request(3)).body), /^77@/);
    const states = a.trace.records.map((r) => `${r.from}>${r.to}`);
    assert.ok(states.includes('active.bound>suspended'), states.join(' '));
    assert.ok(states.includes('suspended>active.bound'), states.join(' '));
  });

  test('resume - another gate: the old gate hands the session and its missed pushes over the bus', async (t) => {
    const { a, b, proxy, seen } = await cluster(t);
    const p = player(proxy, t);
    await p.c.connect();
    await p.c.request(2, enc('88'));
    p.c.send(BURST, enc('1000'));
    await until(() => p.numbers.length >= 150, 'some pushes before the cut');
    proxy.upstream = b.port;
    proxy.cutAll();
    await until(() => p.numbers.length >= 1000, 'all 1,000 pushes', 10_000);
    assert.deepEqual(p.numbers, range(1000));
    assert.match(p.events[0] ?? '', /^resumed:/);
    assert.equal(b.gate.resume.counters.resumedRemote, 1);
    assert.equal(a.gate.resume.counters.handedOver, 1);
    await until(() => a.gate.sessions.size === 0, 'the old gate to let go');
    assert.equal(await a.locator.locateGate(88), b.gate.id);
    assert.equal(b.gate.sessions.byUid(88)?.isActive, true);
    await until(() => (seen.get(88)?.resume ?? 0) === 1, 'one resume event');
    assert.equal(seen.get(88)?.disconnect ?? 0, 0);
    assert.match(dec((await p.c.request(3)).body), /^88@node-1$/);
  });

  test('resume - after the window the session is closed with a disconnect event and resume fails', async (t) => {
    const { a, proxy, seen } = await cluster(t, { windowMs: 300 });
    const p = player(proxy, t);
    await p.c.connect();
    await p.c.request(2, enc('99'));
    proxy.upstream = null;
    proxy.cutAll();
    await until(() => (seen.get(99)?.disconnect ?? 0) === 1, 'the disconnect after the window');
    assert.equal(a.gate.resume.counters.expired, 1);
    proxy.upstream = a.port;
    await until(() => p.events.length > 0, 'the resume answer', 8_000);
    assert.match(p.events[0] ?? '', /^failed:/);
    // The connection goes on as a new, unbound session: echo works, whoami is dropped until a new login.
    assert.equal(dec((await p.c.request(1, enc('x'))).body), 'x');
    assert.equal(dec((await p.c.request(2, enc('99'))).body), '99');
  });

  test('resume - a ring overflow while suspended ends the session', async (t) => {
    const { a, proxy, seen } = await cluster(t, { bufferMessages: 20 });
    const p = player(proxy, t);
    await p.c.connect();
    await p.c.request(2, enc('55'));
    proxy.upstream = null;
    proxy.cutAll();
    await until(() => a.gate.sessions.byUid(55)?.isSuspended === true, 'suspension');
    // 50 pushes for a session that may keep 20: the 21st overflows it.
    const probe = await WsTestClient.connect(a.url);
    t.after(() => probe.close());
    await probe.request(2, '56');
    for (let i = 0; i < 50; i++)
      await a.node.proxy.push({ kind: SessionKind.USER, target: 55, route: NUMBERED, body: 'x' }).catch(() => {});
    await until(() => (seen.get(55)?.disconnect ?? 0) === 1, 'the disconnect after the overflow');
    assert.equal(a.gate.resume.counters.overflowed, 1);
    proxy.upstream = a.port;
    await until(() => p.events.length > 0, 'the resume answer', 8_000);
    assert.match(p.events[0] ?? '', /^failed:/);
  });

  test('resume - a kick during suspension ends it; the resume is refused', async (t) => {
    const { a, proxy, seen } = await cluster(t);
    const p = player(proxy, t);
    await p.c.connect();
    await p.c.request(2, enc('66'));
    proxy.upstream = null;
    proxy.cutAll();
    await until(() => a.gate.sessions.byUid(66)?.isSuspended === true, 'suspension');
    await a.node.proxy.disconnect({ kind: SessionKind.USER, target: 66 });
    await until(() => (seen.get(66)?.disconnect ?? 0) === 1, 'the disconnect after the kick');
    proxy.upstream = a.port;
    await until(() => p.events.length > 0, 'the resume answer', 8_000);
    assert.match(p.events[0] ?? '', /^failed:session not resumable/);
  });

  test('resume - a forged token is refused with an error packet and the connection continues as new', async (t) => {
    const { a, seen } = await cluster(t);
    const c = await WsTestClient.connect(a.url);
    t.after(() => c.close());
    const forged = Buffer.from(JSON.stringify({ g: a.gate.id, c: 1, u: 1, e: 1, x: Date.now() + 60_000 })).toString(
      'base64url',
    );
    c.sendData(-1, 0, JSON.stringify({ type: 'resume', token: `${forged}.AAAA`, seen: 0 }));
    const answer = await c.next({ timeoutMs: 2000 });
    assert.equal(answer.packet?.kind === 'data' ? answer.packet.route : undefined, -1);
    const body = answer.packet?.kind === 'data' ? JSON.parse(dec(answer.packet.body)) : undefined;
    assert.deepEqual(body, { type: 'resumeFailed', error: 'bad token signature' });
    assert.equal((await c.request(1, 'still here')).text, 'still here');
    await until(() => (seen.get(0)?.connect ?? 0) >= 1, 'a connect event for the new session');
  });

  test('resume - the old gate died: the resume fails cleanly and the client logs in again', async (t) => {
    const { a, b, proxy } = await cluster(t);
    const p = player(proxy, t);
    await p.c.connect();
    await p.c.request(2, enc('44'));
    proxy.upstream = null;
    proxy.cutAll();
    await until(() => a.gate.sessions.byUid(44)?.isSuspended === true, 'suspension');
    // Gate A goes away without handing anything over (its takeover subject disappears with it).
    await a.gate.stop({ graceful: false });
    proxy.upstream = b.port;
    await until(() => p.events.length > 0, 'the resume answer', 8_000);
    assert.match(p.events[0] ?? '', /^failed:gate gate-a unreachable/);
    assert.equal(dec((await p.c.request(2, enc('44'))).body), '44');
    assert.equal(b.gate.sessions.byUid(44)?.isActive, true);
  });

  test('resume - off by default: no token, connect fires on open, a normal close is final', async (t) => {
    const e: Embedded = await startEmbedded({});
    t.after(() => e[Symbol.asyncDispose]());
    const c = await WsTestClient.connect(e.url);
    t.after(() => c.close());
    assert.equal((await c.request(2, '12')).text, '12');
    // Nothing on the reserved route: the next frame is the echo answer.
    assert.equal((await c.request(1, 'x')).text, 'x');
    assert.equal(e.gate.resume.counters.offered, 0);
  });
});
