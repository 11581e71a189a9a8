// Fan-out through a whole gate (issue 15): broadcast, multicast and channel publish write one prepared frame to
// every socket (src/network/prepared-frame.ts), corked per turn, while each connection's write queue budget and
// the slow-consumer close (4006) still hold.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { GateOpsCodec } from '../../src/bus/envelope.js';
import { Subjects } from '../../src/bus/subjects.js';
import { CloseCode } from '../../src/errors.js';
import { SessionKind } from '../../src/node/proxy.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { type Embedded, startEmbedded, until } from '../harness/embedded.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const PUSH_ROUTE = 50;

async function gateWith(t: TestContext, maxMessages: number): Promise<Embedded> {
  const e = await startEmbedded({ heartbeatIntervalMs: 0, writeQueue: { maxMessages }, closeTimeoutMs: 500 });
  t.after(() => e[Symbol.asyncDispose]());
  return e;
}

async function client(t: TestContext, url: string): Promise<WsTestClient> {
  const c = await connect(url);
  t.after(() => c[Symbol.asyncDispose]());
  return c;
}

/** Push bodies carry their index, so a receiver can check it got every push exactly once and in order. */
function body(i: number, size: number): Uint8Array {
  const b = Buffer.alloc(size, 0x61);
  b.writeUInt32BE(i, 0);
  return b;
}

function pushIndexes(c: WsTestClient): number[] {
  return c.inbox
    .filter((r) => r.packet?.kind === 'data' && r.packet.route === PUSH_ROUTE)
    .map((r) => Buffer.from((r.packet as { body: Uint8Array }).body).readUInt32BE(0));
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('gate fan-out - slow consumers during a broadcast are closed with 4006; the others get every push, in order', async (t) => {
  const e = await gateWith(t, 32);
  const steady = await Promise.all(range(8).map(() => client(t, e.url)));
  // A client offering permessage-deflate: the gate does not negotiate it, so the shared frames stay valid for it.
  const deflate = new WebSocket(e.url, { perMessageDeflate: true });
  t.after(() => deflate.terminate());
  const deflateGot: number[] = [];
  const codec = new PacketCodec();
  deflate.on('message', (d: Buffer) => {
    const r = codec.decode(d);
    if (r.ok && r.packet.kind === 'data' && r.packet.route === PUSH_ROUTE) {
      deflateGot.push(Buffer.from(r.packet.body).readUInt32BE(0));
    }
  });
  await new Promise((resolve, reject) => deflate.once('open', resolve).once('error', reject));
  assert.equal(deflate.extensions, '', 'no extension negotiated');
  const slow = await Promise.all(range(2).map(() => client(t, e.url)));
  for (const s of slow) (s.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  await until(() => e.gate.sessions.size === 11, 'all sessions open');

  // 4 KB pushes in bursts of 50 until both slow sockets overflowed (kernel buffers first, then the 32-frame budget).
  let sent = 0;
  for (let burst = 0; burst < 100 && e.transport.stats.slowConsumers < 2; burst++) {
    for (let i = 0; i < 50; i++) {
      e.node.proxy.broadcast({ kind: SessionKind.CONN, route: PUSH_ROUTE, body: body(sent++, 4096) });
    }
    // Echoes interleave with the corked pushes on the same sockets: every frame must still arrive whole.
    const answers = await Promise.all(steady.map((c, k) => c.request(1, `echo ${burst}.${k}`)));
    assert.deepEqual(
      answers.map((r) => r.text),
      steady.map((_, k) => `echo ${burst}.${k}`),
    );
  }
  assert.equal(e.transport.stats.slowConsumers, 2, `both slow consumers closed after ${sent} pushes`);
  for (const s of slow) (s.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  for (const s of slow) assert.equal((await s.waitClose(5000)).code, CloseCode.SLOW_CONSUMER);
  assert.equal(e.gate.counters.slowConsumers, 2);

  await until(
    () => steady.every((c) => pushIndexes(c).length >= sent) && deflateGot.length >= sent,
    'every steady client got every push',
    20_000,
  );
  for (const c of steady) assert.deepEqual(pushIndexes(c), range(sent), 'no push lost, none twice, in order');
  assert.deepEqual(deflateGot, range(sent));
  for (const c of steady) assert.ok(c.isOpen);
});

test('gate fan-out - a multicast to 40 users on one gate is one bus message; every user gets the same push', async (t) => {
  const e = await gateWith(t, 1024);
  const users = await Promise.all(range(40).map(() => client(t, e.url)));
  await Promise.all(users.map((c, i) => c.request(2, String(1000 + i))));
  const subjects = new Subjects('duet');
  const sub = e.bus.subscribe(subjects.gateOp(e.gate.id));
  t.after(() => sub.drain());
  const seen: number[] = [];
  void (async () => {
    for await (const m of sub) seen.push(GateOpsCodec.decode(m.data).ops.length);
  })();
  const delivered = await e.node.proxy.multicast({
    kind: SessionKind.USER,
    targets: range(40).map((i) => 1000 + i),
    route: PUSH_ROUTE,
    body: body(7, 100),
    ack: true,
  });
  assert.equal(delivered, 40);
  await until(() => users.every((c) => pushIndexes(c).length === 1), 'every user got the push');
  assert.deepEqual(seen, [1], 'one bus message holding one multicast op');
  const bytes = users.map((c) => Buffer.from(c.inbox.at(-1)?.bytes ?? []).toString('hex'));
  assert.equal(new Set(bytes).size, 1, 'the same bytes on every socket');
});

test('gate fan-out - a channel publish reaches the subscribers only, each once', async (t) => {
  const e = await gateWith(t, 1024);
  const users = await Promise.all(range(6).map(() => client(t, e.url)));
  await Promise.all(users.map((c, i) => c.request(2, String(2000 + i))));
  const members = [2000, 2002, 2004];
  const n = await e.node.proxy.subscribe({ kind: SessionKind.USER, targets: members, channel: 'room-1' });
  assert.equal(n, 3);
  for (let i = 0; i < 30; i++) e.node.proxy.publish({ channel: 'room-1', route: PUSH_ROUTE, body: body(i, 64) });
  await until(() => [0, 2, 4].every((k) => pushIndexes(users[k] as WsTestClient).length === 30), 'subscribers served');
  // One more acked publish: once it is answered, a non-member would have had every earlier push too.
  assert.equal(await e.node.proxy.publish({ channel: 'room-1', route: PUSH_ROUTE, body: body(30, 64), ack: true }), 3);
  for (const k of [0, 2, 4]) {
    await until(() => pushIndexes(users[k] as WsTestClient).length === 31, `member ${k} got the acked publish`);
    assert.deepEqual(pushIndexes(users[k] as WsTestClient), range(31));
  }
  for (const k of [1, 3, 5]) assert.deepEqual(pushIndexes(users[k] as WsTestClient), [], 'non-members get nothing');
});
