import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { test } from 'node:test';
import { CloseCode } from '../../src/errors.js';
import type { Node } from '../../src/node/node.js';
import { type Embedded, type EmbeddedOptions, startEmbedded, until } from '../harness/embedded.js';
import { hex, type Received, WsTestClient } from '../harness/ws-client.js';

/**
 * The session actor over real sockets (issue 3): heartbeats (resp, tick, server time, disabled), the silent-client
 * timeout, malformed and oversized frames, trace records, graceful vs force close, exactly-once endings, and that
 * nothing (timer, socket) outlives the gate.
 */

type TestContext = { after: (fn: () => unknown) => void };

const ECHO = 1;
const LOGIN = 2;
/** Extra node routes for these tests: push N frames on route PUSH, then kick this connection. */
const KICK_GRACEFUL = 10;
const KICK_FORCE = 11;
const PUSH = 100;

const isHeartbeat = (r: Received): boolean => r.packet?.kind === 'heartbeat';

/** Registers the kick routes and counts disconnect events per cid. */
function kickRoutes(disconnects: Map<number, number>) {
  return (node: Node): void => {
    const kickAfterPushes = (force: boolean) => async (ctx: Parameters<Parameters<Node['addRoute']>[1]>[0]) => {
      const n = Number(Buffer.from(ctx.body).toString('utf8') || '0');
      for (let i = 0; i < n; i++) {
        // 2 KB each, so a few dozen overrun the socket's buffer and wait in the connection's queue
        const body = Buffer.alloc(2048, i % 256);
        body.writeUInt32BE(i, 0);
        ctx.reply(PUSH, body);
      }
      await ctx.disconnect(force);
    };
    node.addRoute(KICK_GRACEFUL, kickAfterPushes(false));
    node.addRoute(KICK_FORCE, kickAfterPushes(true));
    node.on('disconnect', (ctx) => {
      disconnects.set(ctx.cid, (disconnects.get(ctx.cid) ?? 0) + 1);
    });
  };
}

async function embedded(t: TestContext, o: Partial<EmbeddedOptions> = {}): Promise<Embedded> {
  const e = await startEmbedded(o);
  t.after(() => e[Symbol.asyncDispose]());
  return e;
}

async function client(t: TestContext, e: Embedded, opts: Parameters<typeof WsTestClient.connect>[1] = {}) {
  const c = await WsTestClient.connect(e.url, opts);
  t.after(() => c[Symbol.asyncDispose]());
  return c;
}

test('gate session - resp: every client heartbeat is answered at once, nothing is sent unasked', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 200, heartbeatMechanism: 'resp' });
  const c = await client(t, e);
  for (let i = 0; i < 5; i++) {
    const sentAt = Date.now();
    c.sendHeartbeat();
    const hb = await c.next({ timeoutMs: 180 });
    assert.equal(hb.bytes.toString('hex'), '0000000180', 'a 5-byte heartbeat without server time');
    assert.ok(hb.atMs - sentAt < 180, `answered before any tick could, took ${hb.atMs - sentAt} ms`);
  }
  // Below 2 × interval of silence, so the session stays; a resp gate sends no heartbeat of its own.
  assert.equal(await c.nextOrNone(300), undefined);
  assert.equal(e.gate.counters.heartbeatsIn, 5);
  assert.ok(c.isOpen);
});

test('gate session - tick: the gate sends a heartbeat every interval and answers none 1:1', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 200, heartbeatMechanism: 'tick' });
  const c = await client(t, e);
  const startedAt = Date.now();
  let sent = 0;
  const keepAlive = setInterval(() => {
    c.sendHeartbeat();
    sent++;
  }, 100);
  t.after(() => clearInterval(keepAlive));
  const ticks: number[] = [];
  while (Date.now() - startedAt < 1300) {
    const r = await c.nextOrNone(1400 - (Date.now() - startedAt), isHeartbeat);
    if (r) ticks.push(r.atMs);
  }
  clearInterval(keepAlive);
  assert.ok(c.isOpen, 'a client that keeps sending stays connected');
  assert.ok(sent >= 10, `the client sent ${sent} heartbeats`);
  // 1.3 s at 200 ms: about 6 ticks; a gate answering 1:1 would have sent about 12
  assert.ok(ticks.length >= 4 && ticks.length <= 8, `${ticks.length} ticks for ${sent} client heartbeats`);
  const gaps = ticks.slice(1).map((at, i) => at - (ticks[i] as number));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  assert.ok(mean > 150 && mean < 300, `ticks ${mean.toFixed(0)} ms apart on average (${gaps.join(', ')})`);
});

test('gate session - tick: a silent client still gets ticks until it is closed for silence', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 200, heartbeatMechanism: 'tick' });
  const c = await client(t, e);
  const first = await c.next({ timeoutMs: 500, match: isHeartbeat });
  assert.equal(first.bytes.length, 5);
  const closed = await c.waitClose(2000);
  assert.ok(closed.atMs > first.atMs);
});

test('gate session - heartbeatTime: server heartbeats carry a 13-byte i64 ns wall clock', async (t) => {
  const packet = { heartbeatTime: true };
  const e = await embedded(t, { heartbeatIntervalMs: 200, packet });
  const c = await client(t, e, { packet });
  const before = BigInt(Date.now()) * 1_000_000n;
  c.sendRaw(hex('00 00 00 01 80'));
  const hb = await c.next({ timeoutMs: 500 });
  const after = BigInt(Date.now()) * 1_000_000n;
  assert.equal(hb.bytes.length, 13);
  assert.equal(hb.bytes.readUInt32BE(0), 9);
  assert.equal(hb.bytes[4], 0x80);
  const ns = hb.bytes.readBigInt64BE(5);
  assert.equal(hb.packet?.kind === 'heartbeat' ? hb.packet.timeNs : undefined, ns);
  // ms-resolution bounds with 5 ms of slack for the two clocks' rounding
  assert.ok(ns >= before - 5_000_000n && ns <= after + 5_000_000n, `${ns} within [${before}, ${after}]`);
});

test('gate session - a silent client is closed between 2× and 3× the interval, reason heartbeat timeout', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 200 });
  const c = await client(t, e);
  const openedAt = Date.now();
  const closed = await c.waitClose(3000);
  const silentMs = closed.atMs - openedAt;
  // 2×..3× the interval; 10 ms below for the client seeing 'open' after the gate stamped the session, 250 ms above
  // for a loaded machine
  assert.ok(silentMs >= 390 && silentMs <= 600 + 250, `closed after ${silentMs} ms of silence`);
  // duet sends a close frame with the reason (due drops the TCP connection): a live-but-silent client sees 4001.
  assert.equal(closed.code, 4001);
  await until(() => e.gate.sessions.size === 0, 'the session to leave the table');
  const end = e.trace.records.find((r) => r.to === 'closed');
  assert.ok(end, 'a trace record for the end');
  assert.equal(end.event, 'heartbeat.expired');
  assert.equal(end.reason, 'heartbeat timeout');
  assert.equal(end.from, 'active.unbound');
  // The machine records why (the close code the gate meant), even though no close frame carried it.
  assert.equal(e.trace.records.filter((r) => r.to === 'closed').length, 1);
});

test('gate session - any binary frame keeps a connection alive: data frames alone are enough', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 100 });
  const c = await client(t, e);
  // 700 ms (> 3 × interval) of echo traffic with no heartbeat at all
  const until700 = Date.now() + 700;
  let n = 0;
  while (Date.now() < until700) {
    const r = await c.request(ECHO, `ping ${n}`);
    assert.equal(r.text, `ping ${n}`);
    n++;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(c.isOpen);
});

test('gate session - text frames and WebSocket pings do not count as liveness', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 200 });
  const c = await client(t, e);
  const openedAt = Date.now();
  const chatter = setInterval(() => {
    if (!c.isOpen) return;
    c.ws.send('text is not a packet');
    c.ws.ping();
  }, 50);
  t.after(() => clearInterval(chatter));
  const closed = await c.waitClose(3000);
  clearInterval(chatter);
  const ms = closed.atMs - openedAt;
  assert.ok(ms >= 390 && ms <= 600 + 250, `closed after ${ms} ms of text and pings`);
  assert.equal(e.gate.counters.framesIn, 0, 'no text frame reached the gate');
});

test('gate session - little endian: a big-endian 00 00 00 01 80 still counts as a heartbeat (docs/protocol.md leniency)', async (t) => {
  const packet = { byteOrder: 'little' as const };
  const e = await embedded(t, { heartbeatIntervalMs: 200, packet });
  const c = await client(t, e, { packet });
  c.sendRaw(hex('00 00 00 01 80'));
  const hb = await c.next({ timeoutMs: 500 });
  assert.equal(hb.bytes.toString('hex'), '0100000080', 'answered in the configured byte order');
  c.sendRaw(hex('01 00 00 00 80'));
  assert.equal((await c.next({ timeoutMs: 500 })).bytes.toString('hex'), '0100000080');
  assert.equal(e.gate.counters.heartbeatsIn, 2);
  assert.equal(e.gate.counters.malformed.size_mismatch, 0);
  // data in little endian: route 1, seq 2, "hi" (docs/protocol.md example)
  c.sendRaw(hex('07 00 00 00 00 01 00 02 00 68 69'));
  assert.equal((await c.next({ timeoutMs: 1000 })).bytes.toString('hex'), '0700000000010002006869');
});

test('gate session - heartbeatInterval 0: no heartbeat replies and no silence timeout', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 0 });
  const c = await client(t, e);
  c.sendHeartbeat();
  assert.equal(await c.nextOrNone(300), undefined, 'no reply to a heartbeat');
  // well past any "2 × interval" a default gate would apply to a 100 ms interval
  assert.equal(await c.nextOrNone(500), undefined);
  assert.ok(c.isOpen);
  assert.equal((await c.request(ECHO, 'still here')).text, 'still here');
});

test('gate session - malformed frames are dropped and counted, the connection stays open', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 0 });
  const c = await client(t, e);
  c.sendRaw(hex('00 00 00')); // short
  c.sendRaw(hex('00 00 00 09 00 00 01 00 02 68 69')); // size says 9, carries 7
  c.sendRaw(hex('00 00 00 02 80 00 00')); // heartbeat whose size does not match
  c.sendRaw(hex('00 00 00 02 00 00')); // data packet shorter than route + seq
  c.sendRaw(new Uint8Array(0)); // empty frames are ignored, not counted
  c.ws.send('a text frame is not a packet');
  await until(() => e.gate.counters.framesIn >= 5, 'the frames to arrive');
  const m = e.gate.counters.malformed;
  assert.equal(m.short, 2);
  assert.equal(m.size_mismatch, 2);
  assert.equal(m.too_large, 0);
  assert.equal((await c.request(ECHO, 'ok')).text, 'ok');
  assert.ok(c.isOpen);
  assert.equal(c.inbox.length, 0, 'nothing was answered for the garbage');
});

test('gate session - a connection that keeps sending garbage is closed after the malformed budget', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 0, malformedBudget: 3 });
  const c = await client(t, e);
  for (let i = 0; i < 3; i++) c.sendRaw(hex('00 01'));
  assert.equal((await c.request(ECHO, 'within budget')).text, 'within budget');
  c.sendRaw(hex('00 01'));
  const closed = await c.waitClose();
  assert.equal(closed.code, CloseCode.MALFORMED_BUDGET);
});

test('gate session - a frame over bufferBytes closes with 1009; one at the limit is echoed', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 0, packet: { bufferBytes: 1000 } });
  const c = await client(t, e, { packet: { bufferBytes: 1000 } });
  const atLimit = Buffer.alloc(1000, 7);
  const r = await c.request(ECHO, atLimit);
  assert.equal(Buffer.from(r.body).equals(atLimit), true);
  const big = new PacketSizes(1001).frame();
  c.sendRaw(big);
  const closed = await c.waitClose();
  assert.equal(closed.code, CloseCode.TOO_LARGE);
  await until(() => e.gate.sessions.size === 0, 'the session to end');
});

/** A big-endian R=2 S=2 data frame with an arbitrary body size (the client codec refuses oversized bodies). */
class PacketSizes {
  readonly #body: number;
  constructor(body: number) {
    this.#body = body;
  }
  frame(): Buffer {
    const b = Buffer.alloc(9 + this.#body, 1);
    b.writeUInt32BE(5 + this.#body, 0);
    b.writeUInt8(0, 4);
    b.writeUInt16BE(ECHO, 5);
    b.writeUInt16BE(1, 7);
    return b;
  }
}

test('gate session - trace records connect, bind, kick and close with from/to/event', async (t) => {
  const disconnects = new Map<number, number>();
  const e = await embedded(t, { register: kickRoutes(disconnects) });
  const c = await client(t, e);
  assert.equal((await c.request(LOGIN, '42')).text, '42');
  const cid = e.gate.sessions.byUid(42)?.cid;
  assert.ok(cid);
  c.sendData(KICK_GRACEFUL, c.nextSeq(), '0');
  const closed = await c.waitClose();
  assert.equal(closed.code, CloseCode.KICKED);
  await until(() => e.trace.records.some((r) => r.to === 'closed'), 'the closed record');
  const mine = e.trace.records.filter((r) => r.cid === cid);
  assert.deepEqual(
    mine.map((r) => [r.from, r.to, r.event, r.uid]),
    [
      ['handshake', 'active.unbound', 'session.opened', 0],
      ['active.unbound', 'active.bound', 'node.bound', 42],
      ['active.bound', 'closing', 'session.kicked', 42],
      ['closing', 'closed', 'socket.closed', 42],
    ],
  );
  assert.ok(mine.every((r) => r.gate === e.gate.id && r.ts > 0));
  assert.equal(mine[2]?.reason, 'kicked');
  for (let i = 1; i < mine.length; i++) assert.ok((mine[i]?.ts ?? 0) >= (mine[i - 1]?.ts ?? 0), 'in time order');
});

test('gate session - graceful kick flushes every queued push, then closes with 4000', async (t) => {
  const disconnects = new Map<number, number>();
  const e = await embedded(t, { heartbeatIntervalMs: 0, register: kickRoutes(disconnects) });
  const c = await client(t, e);
  const pushes = 200; // 400 KB: far more than the socket buffer, so most wait in the connection's push lane
  c.sendData(KICK_GRACEFUL, c.nextSeq(), String(pushes));
  const closed = await c.waitClose();
  assert.equal(closed.code, CloseCode.KICKED);
  assert.equal(closed.reason, 'kicked');
  const got = c.inbox.filter((r) => r.packet?.kind === 'data');
  assert.equal(got.length, pushes, 'every push before the kick reached the client');
  assert.deepEqual(
    got.map((r) => r.bytes.readUInt32BE(9)),
    Array.from({ length: pushes }, (_, i) => i),
    'in order',
  );
  assert.ok(got.every((r) => r.packet?.kind === 'data' && r.packet.route === PUSH && r.packet.seq === 0));
});

test('gate session - force kick closes at once without a close frame', async (t) => {
  const disconnects = new Map<number, number>();
  const e = await embedded(t, { heartbeatIntervalMs: 0, register: kickRoutes(disconnects) });
  const c = await client(t, e);
  c.sendData(KICK_FORCE, c.nextSeq(), '200');
  const closed = await c.waitClose();
  assert.equal(closed.code, 1006, 'terminated: no close handshake');
  await until(() => e.trace.records.some((r) => r.to === 'closed'), 'the closed record');
  const end = e.trace.records.find((r) => r.to === 'closed');
  assert.equal(end?.event, 'session.kicked');
  assert.equal(end?.from, 'active.unbound');
});

test('gate session - every ending closes the session exactly once and fires disconnect once', async (t) => {
  const disconnects = new Map<number, number>();
  const e = await embedded(t, { heartbeatIntervalMs: 200, register: kickRoutes(disconnects) });
  const cids: number[] = [];
  const open = async (uid: number) => {
    const c = await client(t, e);
    await c.request(LOGIN, String(uid));
    const cid = e.gate.sessions.byUid(uid)?.cid;
    assert.ok(cid);
    cids.push(cid);
    return c;
  };
  // 1: the client closes while the gate's graceful kick is under way
  const a = await open(1);
  a.sendData(KICK_GRACEFUL, a.nextSeq(), '20');
  a.ws.close(1000, 'me first');
  // 2: force kick, then the client terminates too
  const b = await open(2);
  b.sendData(KICK_FORCE, b.nextSeq(), '5');
  await b.waitClose();
  b.terminate();
  // 3: plain client close; 4: client drops the TCP connection; 5: silent until the heartbeat timeout
  const c = await open(3);
  await c.close();
  const d = await open(4);
  d.terminate();
  const s = await open(5);
  await Promise.all([a.waitClose(), s.waitClose(3000)]);
  await until(() => cids.every((cid) => disconnects.get(cid) !== undefined), 'a disconnect event for each');
  // A sentinel: its disconnect travels the same ordered gate → node stream, so any duplicate would be seen first.
  const sentinel = await open(6);
  await sentinel.close();
  const sentinelCid = cids[cids.length - 1] as number;
  await until(() => disconnects.get(sentinelCid) === 1, 'the sentinel disconnect');
  for (const cid of cids) {
    assert.equal(disconnects.get(cid), 1, `cid ${cid}: one disconnect event`);
    const ends = e.trace.records.filter((r) => r.cid === cid && r.to === 'closed');
    assert.equal(ends.length, 1, `cid ${cid}: closed once`);
  }
  assert.equal(e.gate.sessions.size, 0);
  assert.equal(e.gate.sessions.boundCount, 0, 'every uid was released');
});

test('gate session - stopping the gate closes open sessions with 1001', async (t) => {
  const e = await embedded(t, { heartbeatIntervalMs: 0 });
  const c = await client(t, e);
  await c.request(LOGIN, '7');
  await e.gate.stop({ graceful: true });
  const closed = await c.waitClose();
  assert.equal(closed.code, 1001);
  assert.equal(e.gate.sessions.size, 0);
});

test('gate session - no timer or socket outlives the gate', async (t) => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  t.after(() => {
    Error.stackTraceLimit = limit;
  });
  /** Timers created by product code (src/, actors/, ws): the first frame outside node's timers module is not a test. */
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const frames = (new Error().stack ?? '').split('\n').slice(1);
      const at = frames.findIndex((f) => f.includes('node:timers'));
      const caller = frames.slice(at + 1).find((f) => !f.includes('node:')) ?? '';
      if (!caller.includes('/test/')) live.set(id, frames.slice(at + 1, at + 6).join('\n'));
    },
    destroy(id) {
      live.delete(id);
    },
  });
  const handles = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap').length;
  const handlesBefore = handles();
  hook.enable();
  t.after(() => hook.disable());
  const disconnects = new Map<number, number>();
  const e = await startEmbedded({
    heartbeatIntervalMs: 100,
    authorizeTimeoutMs: 2000,
    register: kickRoutes(disconnects),
  });
  let timersWhileRunning = 0;
  try {
    timersWhileRunning = live.size;
    const a = await WsTestClient.connect(e.url);
    const b = await WsTestClient.connect(e.url);
    const c = await WsTestClient.connect(e.url);
    await a.request(LOGIN, '1');
    a.sendData(KICK_GRACEFUL, a.nextSeq(), '50');
    await a.waitClose();
    b.sendHeartbeat();
    await b.next();
    await b.close();
    c.sendData(KICK_FORCE, c.nextSeq(), '1');
    await c.waitClose();
    // one left open for the gate's own shutdown to close
    const d = await WsTestClient.connect(e.url);
    await d.request(ECHO, 'x');
  } finally {
    await e[Symbol.asyncDispose]();
  }
  // the sweeps (heartbeat, authorize) and the node's call-timeout sweep at least
  assert.ok(timersWhileRunning >= 3, `the hook saw ${timersWhileRunning} gate/node timers while running`);
  try {
    await until(() => live.size === 0, 'gate and node timers to be cleared');
  } catch {
    assert.fail(`timers still live after stop:\n${[...live.values()].join('\n---\n')}`);
  }
  await until(() => handles() <= handlesBefore, 'sockets and listeners to close');
});
