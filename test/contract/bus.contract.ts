import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type Bus, type BusMessage, type BusStatus, decodeMessage, type Subscription } from '../../src/bus/bus.js';
import { type GateOps, GateOpsCodec } from '../../src/bus/envelope.js';
import { ClosedError, DuetError, ErrorCode, TimeoutError } from '../../src/errors.js';

/**
 * The behaviour every Bus must show (docs/contributing.md). Run against MemoryBus in test/contract/bus-memory.test.ts
 * and against NatsBus on a real nats-server in test/integration/nats-bus.test.ts.
 */
export interface BusFixture {
  bus: Bus;
  /** A second, independent connection to the same bus (NATS); absent for in-process buses. */
  other?: () => Promise<Bus>;
  /** Closes the bus, every `other` connection and anything else the fixture made. */
  dispose(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const WAIT_MS = 5_000;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function readU32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
}

/** A fresh subject prefix per test, so files and tests never hear each other. */
function prefix(): string {
  return `contract.${process.pid}.${randomBytes(6).toString('hex')}`;
}

/** The next message, or done, within `ms`; fails the test on timeout. */
async function nextWithin(it: AsyncIterator<BusMessage>, ms = WAIT_MS): Promise<IteratorResult<BusMessage>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      it.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function take(it: AsyncIterator<BusMessage>, n: number, ms = WAIT_MS): Promise<BusMessage[]> {
  const deadline = Date.now() + ms;
  const out: BusMessage[] = [];
  while (out.length < n) {
    const r = await nextWithin(it, Math.max(1, deadline - Date.now()));
    if (r.done) throw new Error(`stream ended after ${out.length} of ${n} messages`);
    out.push(r.value);
  }
  return out;
}

/** Reads a subscription to its end, in the background; `done` resolves with everything read. */
function collect(sub: Subscription): { items: BusMessage[]; done: Promise<BusMessage[]> } {
  const items: BusMessage[] = [];
  const done = (async () => {
    for await (const m of sub) items.push(m);
    return items;
  })();
  return { items, done };
}

export function busContract(name: string, make: () => Promise<BusFixture>): void {
  describe(`bus contract - ${name}`, () => {
    let fx: BusFixture;
    let bus: Bus;
    /** A second connection when the adapter has one, else the same bus. */
    let peer: Bus;
    let p: string;

    beforeEach(async () => {
      fx = await make();
      bus = fx.bus;
      peer = fx.other ? await fx.other() : bus;
      p = prefix();
    });
    afterEach(async () => {
      await fx.dispose();
    });

    it('bus - publish reaches an exact subscriber on another connection, in order, bytes intact', async () => {
      const sub = peer.subscribe(`${p}.exact`);
      await peer.flush();
      const it = sub[Symbol.asyncIterator]();
      bus.publish(`${p}.exact`, enc.encode('one'));
      bus.publish(`${p}.other`, enc.encode('not for us'));
      bus.publish(`${p}.exact`, enc.encode('two'));
      const got = await take(it, 2);
      assert.deepEqual(
        got.map((m) => [m.subject, dec.decode(m.data)]),
        [
          [`${p}.exact`, 'one'],
          [`${p}.exact`, 'two'],
        ],
      );
      await sub.drain();
    });

    it('bus - publishValue: the value, or its encoding, reaches every subscriber in publish order', async () => {
      const sub = peer.subscribe(`${p}.value`);
      const wild = peer.subscribe(`${p}.>`);
      await peer.flush();
      const it = sub[Symbol.asyncIterator]();
      const all = wild[Symbol.asyncIterator]();
      const ops: GateOps = { nid: 'n1', reply: 'r1', ops: [{ id: 7, stat: { kind: 2 } }] };
      bus.publish(`${p}.value`, enc.encode('bytes first'));
      bus.publishValue(`${p}.value`, ops, GateOpsCodec);
      const [first, second] = await take(it, 2);
      assert.equal(dec.decode(first?.data), 'bytes first', 'order kept across publish and publishValue');
      const got = decodeMessage(second as BusMessage, GateOpsCodec);
      assert.equal(got.nid, 'n1');
      assert.equal(got.ops[0]?.id, 7);
      assert.equal(got.ops[0]?.stat?.kind, 2);
      // Whoever reads the bytes (a capture, another codec) gets the same message encoded.
      const [, viaBytes] = await take(all, 2);
      assert.deepEqual(GateOpsCodec.decode((viaBytes as BusMessage).data).ops[0]?.stat?.kind, 2);
      await sub.drain();
      await wild.drain();
    });

    it('bus - * matches one token and > matches one or more', async () => {
      const star = peer.subscribe(`${p}.*`);
      const tail = peer.subscribe(`${p}.>`);
      await peer.flush();
      const starIt = star[Symbol.asyncIterator]();
      const tailIt = tail[Symbol.asyncIterator]();
      bus.publish(`${p}.a.b`, enc.encode('deep'));
      bus.publish(`${p}.c`, enc.encode('shallow'));
      const [first] = await take(starIt, 1);
      assert.equal(first?.subject, `${p}.c`, '* must not match two tokens');
      const both = await take(tailIt, 2);
      assert.deepEqual(
        both.map((m) => m.subject),
        [`${p}.a.b`, `${p}.c`],
      );
      await Promise.all([star.drain(), tail.drain()]);
    });

    it('bus - a queue group delivers each message to exactly one member; plain subscribers get all', async () => {
      const subject = `${p}.work`;
      const m1 = bus.subscribe(subject, { queue: 'workers' });
      const m2 = peer.subscribe(subject, { queue: 'workers' });
      const plain = peer.subscribe(subject);
      await Promise.all([bus.flush(), peer.flush()]);
      const c1 = collect(m1);
      const c2 = collect(m2);
      const plainIt = plain[Symbol.asyncIterator]();
      const n = 200;
      for (let i = 0; i < n; i++) bus.publish(subject, u32(i));
      // The plain subscriber seeing all n, then a flush on both sides, means every member copy has arrived too.
      const all = await take(plainIt, n);
      assert.deepEqual(
        all.map((m) => readU32(m.data)),
        Array.from({ length: n }, (_, i) => i),
      );
      await Promise.all([bus.flush(), peer.flush()]);
      await Promise.all([m1.drain(), m2.drain(), plain.drain()]);
      const [got1, got2] = [await c1.done, await c2.done];
      assert.ok(got1.length > 0 && got2.length > 0, `both members served (${got1.length}/${got2.length})`);
      const ids = [...got1, ...got2].map((m) => readU32(m.data));
      assert.equal(ids.length, n, 'each message delivered once to the group');
      assert.equal(new Set(ids).size, n, 'no message delivered twice');
    });

    it('bus - 10,000 numbered messages from one publisher arrive in order', async () => {
      const subject = `${p}.ordered`;
      const sub = peer.subscribe(subject);
      await peer.flush();
      const it = sub[Symbol.asyncIterator]();
      const n = 10_000;
      for (let i = 0; i < n; i++) bus.publish(subject, u32(i));
      await bus.flush();
      const got = await take(it, n, 20_000);
      let outOfOrder = -1;
      for (let i = 0; i < n && outOfOrder < 0; i++) {
        if (readU32((got[i] as BusMessage).data) !== i) outOfOrder = i;
      }
      assert.equal(outOfOrder, -1, `message ${outOfOrder} out of order`);
      await sub.drain();
    });

    it('bus - request gets the reply from a responder on another connection', async () => {
      const subject = `${p}.echo`;
      const responder = peer.subscribe(subject);
      await peer.flush();
      const served = (async () => {
        for await (const m of responder) assert.equal(m.respond(enc.encode(`re:${dec.decode(m.data)}`)), true);
      })();
      const reply = await bus.request(subject, enc.encode('ping'), { timeoutMs: WAIT_MS });
      assert.equal(dec.decode(reply), 're:ping');
      const second = await bus.request(subject, enc.encode('again'), { timeoutMs: WAIT_MS });
      assert.equal(dec.decode(second), 're:again');
      await responder.drain();
      await served;
    });

    it('bus - respond() answers false for a message without a reply subject', async () => {
      const sub = bus.subscribe(`${p}.noreply`);
      const it = sub[Symbol.asyncIterator]();
      bus.publish(`${p}.noreply`, enc.encode('x'));
      const [m] = await take(it, 1);
      assert.equal(m?.respond(enc.encode('y')), false);
      await sub.drain();
    });

    it('bus - respond() after the bus closed answers false instead of throwing', async () => {
      const subject = `${p}.late-reply`;
      const responder = bus.subscribe(subject);
      await bus.flush();
      const it = responder[Symbol.asyncIterator]();
      const pending = peer.request(subject, enc.encode('q'), { timeoutMs: 300 });
      const [m] = await take(it, 1);
      await bus.drain();
      assert.equal(m?.respond(enc.encode('too late')), false);
      await assert.rejects(pending, (err: unknown) => err instanceof DuetError);
    });

    it('bus - a request nobody answers rejects with TimeoutError after timeoutMs', async () => {
      const subject = `${p}.silent`;
      const silent = peer.subscribe(subject);
      await peer.flush();
      const started = Date.now();
      await assert.rejects(bus.request(subject, enc.encode('hello?'), { timeoutMs: 150 }), (err: unknown) => {
        assert.ok(err instanceof TimeoutError, `expected TimeoutError, got ${String(err)}`);
        assert.equal(err.code, ErrorCode.TIMEOUT);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 140 && elapsed < 3_000, `timed out after ${elapsed} ms`);
      await silent.drain();
    });

    it('bus - a request with no subscriber rejects with DUET_ERR_NO_RESPONDERS', async () => {
      await assert.rejects(bus.request(`${p}.nobody`, enc.encode('x'), { timeoutMs: WAIT_MS }), (err: unknown) => {
        assert.ok(err instanceof DuetError, `expected DuetError, got ${String(err)}`);
        assert.equal(err.code, ErrorCode.NO_RESPONDERS);
        return true;
      });
    });

    it('bus - an aborted request rejects with the abort reason', async () => {
      const subject = `${p}.slow`;
      const silent = peer.subscribe(subject);
      await peer.flush();
      const ac = new AbortController();
      const reason = new Error('caller gave up');
      const pending = bus.request(subject, enc.encode('x'), { timeoutMs: WAIT_MS, signal: ac.signal });
      ac.abort(reason);
      await assert.rejects(pending, (err: unknown) => err === reason);
      await silent.drain();
    });

    it('bus - subscription drain hands over what arrived, then ends the iterator', async () => {
      const subject = `${p}.drain`;
      const sub = bus.subscribe(subject);
      for (let i = 0; i < 3; i++) bus.publish(subject, u32(i));
      await bus.flush();
      await sub.drain();
      await sub.drain();
      bus.publish(subject, u32(99));
      const got: number[] = [];
      for await (const m of sub) got.push(readU32(m.data));
      assert.deepEqual(got, [0, 1, 2]);
    });

    it('bus - break out of for-await removes the subscription', async () => {
      const subject = `${p}.break`;
      const sub = bus.subscribe(subject);
      bus.publish(subject, u32(1));
      for await (const m of sub) {
        assert.equal(readU32(m.data), 1);
        break;
      }
      // With the only subscriber gone a request has nobody to answer it: proof that delivery stopped.
      await assert.rejects(
        bus.request(subject, u32(2), { timeoutMs: WAIT_MS }),
        (err: unknown) => err instanceof DuetError && err.code === ErrorCode.NO_RESPONDERS,
      );
      assert.throws(() => sub[Symbol.asyncIterator](), 'a subscription is iterated once');
    });

    it('bus - createInbox gives distinct subjects that can be subscribed', async () => {
      const a = bus.createInbox();
      const b = bus.createInbox();
      assert.notEqual(a, b);
      const sub = bus.subscribe(a);
      await bus.flush();
      const it = sub[Symbol.asyncIterator]();
      peer.publish(a, enc.encode('to inbox'));
      const [m] = await take(it, 1);
      assert.equal(m?.subject, a);
      await sub.drain();
    });

    it('bus - drain twice is safe, closes, reports the status and resolves closed', async () => {
      const seen: BusStatus[] = [];
      const off = bus.onStatus((s) => seen.push(s));
      const sub = bus.subscribe(`${p}.closing`);
      const reader = collect(sub);
      await Promise.all([bus.drain(), bus.drain()]);
      await bus.drain();
      assert.equal(bus.status, 'closed');
      assert.deepEqual(seen, ['closed']);
      assert.equal(await bus.closed, undefined);
      assert.deepEqual(await reader.done, [], 'subscriptions end with the bus');
      off();
    });

    it('bus - a payload over maxPayload is refused with BUS_PAYLOAD_TOO_LARGE, one at the limit is delivered', async () => {
      assert.ok(bus.maxPayload >= 64 * 1024, `maxPayload ${bus.maxPayload}`);
      const sub = peer.subscribe(`${p}.size`);
      const it = sub[Symbol.asyncIterator]();
      await peer.flush();
      const err = bus.publish(`${p}.size`, new Uint8Array(bus.maxPayload + 1));
      assert.ok(err instanceof DuetError && err.code === ErrorCode.BUS_PAYLOAD_TOO_LARGE, String(err));
      assert.equal(bus.publish(`${p}.size`, new Uint8Array(bus.maxPayload)), undefined);
      const [m] = await take(it, 1);
      assert.equal(
        m?.data.byteLength,
        bus.maxPayload,
        'the refused message was not delivered; the one at the limit was',
      );
      await sub.drain();
    });

    it('bus - after close, publish is dropped without throwing and calls fail with ClosedError', async () => {
      await bus.drain();
      assert.doesNotThrow(() => bus.publish(`${p}.late`, enc.encode('x')));
      assert.ok(bus.publish(`${p}.late`, enc.encode('x')) instanceof ClosedError, 'the drop says why');
      if ('dropped' in bus) assert.equal(bus.dropped, 2);
      assert.throws(
        () => bus.subscribe(`${p}.late`),
        (err: unknown) => err instanceof ClosedError,
      );
      await assert.rejects(
        bus.request(`${p}.late`, enc.encode('x'), { timeoutMs: 100 }),
        (err: unknown) => err instanceof ClosedError,
      );
    });
  });
}
