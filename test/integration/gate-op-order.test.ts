import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type GateOp,
  GateOpsCodec,
  type Result,
  ResultCode,
  ResultsCodec,
  SessionKind,
} from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import { CloseCode } from '../../src/errors.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { type Embedded, startEmbedded, until } from '../harness/embedded.js';
import { HeldLocator, hold } from '../harness/held-locator.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * The gate's operation order (docs/ordering.md): per session, never across sessions. A bind in flight (the locator
 * write) holds the later ops of its own session, including ops by the uid it binds, and nobody else's.
 */

type TestContext = { after: (fn: () => unknown) => void };

interface Rig {
  e: Embedded;
  locator: HeldLocator;
  /** Publishes ops as one batch from one node; resolves with their results, in id order. */
  send(ops: GateOp[]): Promise<Result[]>;
  client(): Promise<{ c: WsTestClient; cid: number }>;
  push(body: string): Uint8Array;
}

async function rig(t: TestContext): Promise<Rig> {
  const bus = new MemoryBus();
  const locator = new HeldLocator();
  const registry = new MemoryRegistry();
  const e = await startEmbedded({ heartbeatIntervalMs: 0, shared: { bus, locator, registry } });
  t.after(async () => {
    await e[Symbol.asyncDispose]();
    await bus.drain();
    await locator[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  });
  const subjects = new Subjects('duet');
  const inbox = 'test.inbox.order';
  const results = new Map<number, (r: Result) => void>();
  const sub = bus.subscribe(inbox);
  void (async () => {
    for await (const m of sub) for (const r of ResultsCodec.decode(m.data).results) results.get(r.id)?.(r);
  })();
  t.after(() => sub.drain());
  let nextId = 1;
  return {
    e,
    locator,
    send(ops) {
      const numbered = ops.map((op) => ({ ...op, id: nextId++ }));
      const waits = numbered.map((op) => new Promise<Result>((r) => results.set(op.id, r)));
      bus.publish(subjects.gateOp(e.gate.id), GateOpsCodec.encode({ nid: 'test-node', reply: inbox, ops: numbered }));
      return Promise.all(waits);
    },
    async client() {
      const before = new Set([...e.gate.sessions.all()].map((s) => s.cid));
      const c = await WsTestClient.connect(e.url);
      t.after(() => c[Symbol.asyncDispose]());
      await until(() => e.gate.sessions.size > before.size, 'the session to open');
      const s = [...e.gate.sessions.all()].find((x) => !before.has(x.cid));
      return { c, cid: s?.cid ?? 0 };
    },
    push: (body) => e.codec.encode({ route: 9, seq: 0, body: new TextEncoder().encode(body) }),
  };
}

const text = (f: { packet?: { kind: string; body?: Uint8Array } }): string =>
  f.packet?.kind === 'data' ? new TextDecoder().decode(f.packet.body) : '?';

test('gate op order - a bind waiting on the locator does not hold ops for other sessions', async (t) => {
  const r = await rig(t);
  const a = await r.client();
  const b = await r.client();
  const release = hold(r.locator);
  const bound = r.send([{ id: 0, bind: { cid: a.cid, uid: 501 } }]);
  // Sent after the bind, for another session: answered and written while the bind still waits.
  const [pushed] = await r.send([
    { id: 0, push: { kind: SessionKind.CONN, target: b.cid, packet: r.push('to b'), disconnect: false } },
  ]);
  assert.equal(pushed?.code, ResultCode.OK);
  assert.equal(pushed?.total, 1);
  assert.equal(text(await b.c.next()), 'to b');
  assert.equal(r.e.gate.sessions.byUid(501), undefined, 'the bind is still in flight');
  release();
  const [res] = await bound;
  assert.equal(res?.code, ResultCode.OK);
  assert.equal(r.e.gate.sessions.byUid(501)?.cid, a.cid);
});

test('gate op order - bind, then at once a push to that uid, then a kick: applied in that order', async (t) => {
  const r = await rig(t);
  const a = await r.client();
  const release = hold(r.locator);
  const done = r.send([
    { id: 0, bind: { cid: a.cid, uid: 502 } },
    { id: 0, push: { kind: SessionKind.USER, target: 502, packet: r.push('hello 502'), disconnect: false } },
    { id: 0, disconnect: { kind: SessionKind.USER, target: 502, force: false } },
  ]);
  assert.equal(await a.c.nextOrNone(50), undefined, 'nothing happens before the bind');
  release();
  const [bind, push, kick] = await done;
  assert.equal(bind?.code, ResultCode.OK);
  assert.equal(push?.code, ResultCode.OK);
  assert.equal(push?.total, 1, 'the push found the session the bind had just bound');
  assert.equal(kick?.code, ResultCode.OK);
  assert.equal(text(await a.c.next()), 'hello 502');
  assert.equal((await a.c.waitClose()).code, CloseCode.KICKED);
});

test('gate op order - an unbind racing a push: whichever the node sent first applies first', async (t) => {
  const r = await rig(t);
  const a = await r.client();
  const b = await r.client();
  const release = hold(r.locator);
  // a: bind (held), unbind, push: the push comes after the unbind, so it finds nobody.
  const aOps = r.send([
    { id: 0, bind: { cid: a.cid, uid: 601 } },
    { id: 0, unbind: { uid: 601, cid: 0 } },
    { id: 0, push: { kind: SessionKind.USER, target: 601, packet: r.push('too late'), disconnect: false } },
  ]);
  // b: bind (held), push, unbind: the push comes first, so it is written.
  const bOps = r.send([
    { id: 0, bind: { cid: b.cid, uid: 602 } },
    { id: 0, push: { kind: SessionKind.USER, target: 602, packet: r.push('in time'), disconnect: false } },
    { id: 0, unbind: { uid: 602, cid: 0 } },
  ]);
  release();
  const [aBind, aUnbind, aPush] = await aOps;
  const [bBind, bPush, bUnbind] = await bOps;
  assert.deepEqual(
    [aBind?.code, aUnbind?.code, aPush?.code],
    [ResultCode.OK, ResultCode.OK, ResultCode.NOT_FOUND_SESSION],
  );
  assert.deepEqual([bBind?.code, bPush?.code, bUnbind?.code], [ResultCode.OK, ResultCode.OK, ResultCode.OK]);
  assert.equal(bPush?.total, 1);
  assert.equal(text(await b.c.next()), 'in time');
  assert.equal(await a.c.nextOrNone(50), undefined, 'a never got the push sent after its unbind');
  assert.equal(r.e.gate.sessions.byUid(601), undefined);
  assert.equal(r.e.gate.sessions.byUid(602), undefined);
});

test('gate op order - a broadcast to users after a bind in flight reaches that user once bound', async (t) => {
  const r = await rig(t);
  const a = await r.client();
  const b = await r.client();
  await r.send([{ id: 0, bind: { cid: b.cid, uid: 702 } }]);
  const release = hold(r.locator);
  const done = r.send([
    { id: 0, bind: { cid: a.cid, uid: 701 } },
    { id: 0, broadcast: { kind: SessionKind.USER, packet: r.push('everyone'), disconnect: false } },
  ]);
  // b is bound already: written at once, while a's bind waits.
  assert.equal(text(await b.c.next()), 'everyone');
  release();
  const [, cast] = await done;
  assert.equal(cast?.total, 2);
  assert.equal(text(await a.c.next()), 'everyone');
});

test('gate op order - two binds of one uid from two sessions: the later one wins', async (t) => {
  const r = await rig(t);
  const a = await r.client();
  const b = await r.client();
  const release = hold(r.locator);
  const first = r.send([{ id: 0, bind: { cid: a.cid, uid: 801 } }]);
  const second = r.send([{ id: 0, bind: { cid: b.cid, uid: 801 } }]);
  release();
  await Promise.all([first, second]);
  assert.equal(r.e.gate.sessions.byUid(801)?.cid, b.cid);
  assert.equal((await a.c.waitClose()).code, CloseCode.DISPLACED);
});
