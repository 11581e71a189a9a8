import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import WS, { type WebSocket, WebSocketServer } from 'ws';
import { Client } from '../../src/client/client.js';
import type { ClientEventName, ClientEvents } from '../../src/client/emitter.js';
import {
  ClientUsageError,
  ConnectError,
  ConnectionClosedError,
  ListenerError,
  NotOpenError,
  RequestTimeoutError,
} from '../../src/client/errors.js';
import { nsToMs } from '../../src/client/heartbeat.js';
import type { ClientOptions } from '../../src/client/options.js';
import { ConfigError, ErrorCode, ProtocolError } from '../../src/errors.js';
import { PacketCodec } from '../../src/packet/codec.js';
import type { ByteOrder, PacketOptions, SeqBytes } from '../../src/packet/options.js';
import { freePort } from '../harness/free-port.js';

type TestContext = { after: (fn: () => unknown) => void };
type PacketConfig = Partial<Pick<PacketOptions, 'byteOrder' | 'routeBytes' | 'seqBytes' | 'bufferBytes'>>;

/** docs/protocol.md example: server time 1735689600123456789 ns. */
const TIME_NS = 1735689600123456789n;
const hex = (b: Uint8Array): string =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

/**
 * A small due gate played with ws + PacketCodec: by default it echoes data packets (same route, seq, body) and
 * answers heartbeats (with the server time when `timeNs` is set). Tests replace `onFrame` to change its behaviour.
 */
class FakeGate {
  readonly codec: PacketCodec;
  readonly sockets: WebSocket[] = [];
  /** Every binary frame from any connection, in arrival order (copies). */
  readonly received: Uint8Array[] = [];
  readonly closeCodes: number[] = [];
  timeNs: bigint | undefined;
  isRefusing = false;
  onFrame: (sock: WebSocket, frame: Uint8Array, index: number) => void = (sock, frame) => this.answer(sock, frame);

  private constructor(
    readonly wss: WebSocketServer,
    readonly url: string,
    packet: PacketConfig,
  ) {
    this.codec = new PacketCodec(packet);
  }

  static async start(t: TestContext, packet: PacketConfig = {}): Promise<FakeGate> {
    let gate: FakeGate | undefined;
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (_info: { req: IncomingMessage }) => gate?.isRefusing !== true,
    });
    await once(wss, 'listening');
    const addr = wss.address();
    assert.ok(typeof addr === 'object' && addr !== null);
    const created = new FakeGate(wss, `ws://127.0.0.1:${addr.port}`, packet);
    gate = created;
    wss.on('connection', (sock) => {
      const index = created.sockets.length;
      created.sockets.push(sock);
      sock.on('close', (code) => created.closeCodes.push(code));
      sock.on('message', (data, isBinary) => {
        if (!isBinary || !(data instanceof Buffer)) return;
        const frame = new Uint8Array(data);
        created.received.push(frame.slice());
        created.onFrame(sock, frame, index);
      });
    });
    t.after(async () => {
      for (const s of wss.clients) s.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    });
    return created;
  }

  /** The default: echo data, answer heartbeats. */
  answer(sock: WebSocket, frame: Uint8Array): void {
    const r = this.codec.decode(frame);
    if (!r.ok) return;
    if (r.packet.kind === 'heartbeat') sock.send(this.codec.encodeHeartbeat(this.timeNs));
    else sock.send(this.codec.encode({ route: r.packet.route, seq: r.packet.seq, body: r.packet.body }));
  }

  /** Data packets received (decoded), heartbeats left out. */
  data(): { route: number; seq: number; body: Uint8Array }[] {
    const out = [];
    for (const f of this.received) {
      const r = this.codec.decode(f);
      if (r.ok && r.packet.kind === 'data') out.push(r.packet);
    }
    return out;
  }
}

function makeClient(t: TestContext, url: string, options: Partial<ClientOptions> = {}): Client {
  const client = new Client({
    url,
    WebSocket: WS,
    heartbeat: { intervalMs: 0 },
    reconnect: { enabled: false },
    ...options,
  });
  t.after(() => client.close());
  return client;
}

/** Resolves with the next payload of `event` that passes `pred`; rejects after `ms`. */
function nextEvent<K extends ClientEventName>(
  client: Client,
  event: K,
  pred: (p: ClientEvents[K]) => boolean = () => true,
  ms = 5000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for '${event}'`));
    }, ms);
    const off = client.on(event, (p) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

/** Every payload of every event, in order. */
function record(client: Client): { name: ClientEventName; at: number; payload: unknown }[] {
  const log: { name: ClientEventName; at: number; payload: unknown }[] = [];
  for (const name of ['open', 'close', 'error', 'push', 'heartbeat', 'reconnecting'] as const) {
    client.on(name, (payload) => log.push({ name, at: performance.now(), payload }));
  }
  return log;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const indexBody = (i: number): Uint8Array => u32(i);

describe('client - request/response', () => {
  const widths: SeqBytes[] = [1, 2, 4];
  for (const byteOrder of ['big', 'little'] as ByteOrder[]) {
    for (const seqBytes of widths) {
      test(`client - responses match requests by seq (${byteOrder}, seqBytes ${seqBytes}), answered in reverse`, async (t) => {
        const packet = { byteOrder, seqBytes, routeBytes: 2 as const };
        const gate = await FakeGate.start(t, packet);
        const held: Uint8Array[] = [];
        // Answer only once all 30 arrived, newest first: a client matching by arrival order would mix them up.
        gate.onFrame = (sock, frame) => {
          held.push(frame.slice());
          if (held.length === 30) for (const f of held.reverse()) gate.answer(sock, f);
        };
        const client = makeClient(t, gate.url, { packet });
        await client.connect();
        const routes = [1, 300, -2];
        const replies = await Promise.all(
          Array.from({ length: 30 }, (_, i) => client.request(routes[i % 3] as number, indexBody(i))),
        );
        replies.forEach((r, i) => {
          assert.equal(r.route, routes[i % 3]);
          assert.deepEqual(r.body, indexBody(i));
          assert.ok(r.seq > 0);
        });
        // The wire carried the configured byte order: the gate's codec (same config) decoded every request.
        assert.deepEqual(
          gate.data().map((d) => d.body[3]),
          Array.from({ length: 30 }, (_, i) => i),
        );
        assert.equal(client.pendingCount, 0);
      });
    }
  }

  test('client - seqBytes 0: request() rejects with a clear error, send() still works', async (t) => {
    const gate = await FakeGate.start(t, { seqBytes: 0, routeBytes: 4 });
    const client = makeClient(t, gate.url, { packet: { seqBytes: 0, routeBytes: 4 } });
    await client.connect();
    const err = await client.request(1, bytes(1)).then(
      () => assert.fail('request() resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ClientUsageError);
    assert.equal(err.code, ErrorCode.ILLEGAL_OPERATION);
    assert.match(err.message, /seqBytes/);
    const push = nextEvent(client, 'push');
    client.send(1, bytes(0x68, 0x69));
    // docs/protocol.md example "big, R=4, S=0": seq is not on the wire.
    await until(() => gate.received.length === 1, 'the frame');
    assert.equal(hex(gate.received[0] as Uint8Array), '00 00 00 07 00 00 00 00 01 68 69');
    assert.deepEqual((await push).body, bytes(0x68, 0x69));
  });

  test('client - send() and request() before connect fail with NotOpenError', async (t) => {
    const client = makeClient(t, 'ws://127.0.0.1:1');
    assert.throws(() => client.send(1), NotOpenError);
    await assert.rejects(client.request(1), (e: unknown) => e instanceof NotOpenError && e.code === ErrorCode.CLOSED);
  });

  test('client - a bad route or an oversized body is a ProtocolError and leaves nothing pending', async (t) => {
    const gate = await FakeGate.start(t, { bufferBytes: 4 });
    const client = makeClient(t, gate.url, { packet: { bufferBytes: 4 } });
    await client.connect();
    await assert.rejects(client.request(40_000), (e: unknown) => e instanceof ProtocolError);
    await assert.rejects(client.request(1, new Uint8Array(5)), (e: unknown) => e instanceof ProtocolError);
    assert.throws(() => client.send(1, new Uint8Array(5)), ProtocolError);
    assert.equal(client.pendingCount, 0);
    assert.equal((await client.request(1, bytes(9))).seq, 1, 'the failed requests consumed no seq');
  });
});

describe('client - seq wrap', () => {
  test('client - seq wraps within seqBytes 1 (300 requests) and skips a seq still pending', async (t) => {
    const gate = await FakeGate.start(t, { seqBytes: 1 });
    const client = makeClient(t, gate.url, { packet: { seqBytes: 1 } });
    await client.connect();
    for (let batch = 0; batch < 3; batch++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => client.request(5, indexBody(batch * 100 + i))));
    }
    assert.deepEqual(
      gate.data().map((d) => d.seq),
      Array.from({ length: 300 }, (_, i) => (i % 127) + 1),
      'seqs run 1..127 then start over at 1 (0 is a push, negatives unused)',
    );

    // Hold the response to the next seq (47); wrap around and check 47 is skipped while it is pending.
    let heldFrame: Uint8Array | undefined;
    gate.onFrame = (sock, frame) => {
      const r = gate.codec.decode(frame);
      if (heldFrame === undefined && r.ok && r.packet.kind === 'data' && r.packet.seq === 47) heldFrame = frame.slice();
      else gate.answer(sock, frame);
    };
    const slow = client.request(5, bytes(0xaa), { timeoutMs: 0 });
    const before = gate.data().length;
    for (let i = 0; i < 127; i++) await client.request(5, indexBody(i));
    const seqs = gate.data().map((d) => d.seq);
    assert.equal(seqs[before], 47);
    assert.deepEqual(seqs.slice(before + 1, before + 128), [
      ...Array.from({ length: 80 }, (_, i) => 48 + i),
      ...Array.from({ length: 46 }, (_, i) => 1 + i),
      48,
    ]);
    const sock = gate.sockets[0] as WebSocket;
    gate.answer(sock, heldFrame as Uint8Array);
    assert.deepEqual((await slow).body, bytes(0xaa), 'the held request got its own response');
  });

  test('client - 40,000 requests on one route with seqBytes 2 never fail (due-client-ts stops at 32,767)', async (t) => {
    const gate = await FakeGate.start(t);
    const client = makeClient(t, gate.url);
    await client.connect();
    const total = 40_000;
    const batch = 2_000;
    for (let start = 0; start < total; start += batch) {
      const replies = await Promise.all(
        Array.from({ length: batch }, (_, i) => client.request(1, indexBody(start + i))),
      );
      for (const [i, r] of replies.entries()) assert.deepEqual(r.body, indexBody(start + i));
    }
    const seqs = gate.data().map((d) => d.seq);
    assert.equal(seqs.length, total);
    assert.equal(seqs[32_766], 32_767);
    assert.equal(seqs[32_767], 1, 'wrapped to 1 after 32,767');
    assert.equal(Math.max(...seqs.slice(32_000, 33_000)), 32_767);
    assert.equal(client.pendingCount, 0);
  });

  test('client - when every seq of a route is pending, request() rejects instead of reusing one', async (t) => {
    const gate = await FakeGate.start(t, { seqBytes: 1 });
    gate.onFrame = () => {};
    const client = makeClient(t, gate.url, { packet: { seqBytes: 1 } });
    await client.connect();
    const pending = Array.from({ length: 127 }, (_, i) => client.request(3, indexBody(i), { timeoutMs: 0 }));
    await assert.rejects(client.request(3), (e: unknown) => e instanceof ClientUsageError && /pending/.test(e.message));
    assert.equal(client.pendingCount, 127);
    // Another route has its own counter.
    const other = client.request(4, bytes(1), { timeoutMs: 0 });
    assert.equal(client.pendingCount, 128);
    const settled = Promise.allSettled([...pending, other]);
    await client.close();
    const results = await settled;
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof ConnectionClosedError));
    assert.equal(client.pendingCount, 0);
  });
});

describe('client - timeouts and aborts', () => {
  test('client - a timed-out request leaves the table at once; its late reply is dropped and counted', async (t) => {
    const gate = await FakeGate.start(t);
    const held: Uint8Array[] = [];
    gate.onFrame = (sock, frame) => {
      if (gate.codec.routeOf(frame) === 9) held.push(frame.slice());
      else gate.answer(sock, frame);
    };
    const client = makeClient(t, gate.url, { requestTimeoutMs: 40 });
    await client.connect();
    const log = record(client);
    const started = performance.now();
    const err = await client.request(9, bytes(1)).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(performance.now() - started >= 39);
    assert.ok(err instanceof RequestTimeoutError);
    assert.equal(err.code, ErrorCode.TIMEOUT);
    assert.equal(err.route, 9);
    assert.equal(err.timeoutMs, 40);
    assert.match(err.stack ?? '', /client\.test\.ts/, 'the stack shows the caller');
    assert.equal(client.pendingCount, 0);
    // Per-call override, then the late reply for the first request arrives.
    await assert.rejects(client.request(9, bytes(2), { timeoutMs: 5 }), RequestTimeoutError);
    assert.equal(client.pendingCount, 0);
    const sock = gate.sockets[0] as WebSocket;
    for (const f of held) gate.answer(sock, f);
    await until(() => client.lateReplyCount === 2, 'two late replies counted');
    assert.equal(log.filter((e) => e.name === 'push').length, 0, 'a late reply is not a push');
    assert.deepEqual((await client.request(1, bytes(3))).body, bytes(3), 'the connection still works');
  });

  test('client - abort via signal rejects with its reason and removes the request', async (t) => {
    const gate = await FakeGate.start(t);
    gate.onFrame = (sock, frame) => {
      if (gate.codec.routeOf(frame) !== 9) gate.answer(sock, frame);
    };
    const client = makeClient(t, gate.url);
    await client.connect();
    const ac = new AbortController();
    const req = client.request(9, bytes(1), { signal: ac.signal });
    assert.equal(client.pendingCount, 1);
    await until(() => gate.received.length === 1, 'the request reached the gate');
    const reason = new Error('player left the screen');
    ac.abort(reason);
    await assert.rejects(req, (e: unknown) => e === reason);
    assert.equal(client.pendingCount, 0);

    // Already aborted: rejected before anything is sent (the next request is the only new frame the gate sees).
    const before = gate.received.length;
    await assert.rejects(client.request(1, bytes(7), { signal: AbortSignal.abort() }), { name: 'AbortError' });
    await client.request(1, bytes(8));
    const after = gate.received.slice(before).map((f) => gate.codec.decode(f));
    assert.deepEqual(after, [{ ok: true, packet: { kind: 'data', route: 1, seq: 1, body: bytes(8) } }]);
  });
});

describe('client - heartbeats and liveness', () => {
  for (const [byteOrder, expected] of [
    ['little', '01 00 00 00 80'],
    ['big', '00 00 00 01 80'],
  ] as const) {
    test(`client - heartbeat is written in the configured byte order (${byteOrder}: ${expected})`, async (t) => {
      const gate = await FakeGate.start(t, { byteOrder });
      const client = makeClient(t, gate.url, { packet: { byteOrder }, heartbeat: { intervalMs: 50 } });
      await client.connect();
      await nextEvent(client, 'heartbeat');
      assert.equal(hex(gate.received[0] as Uint8Array), expected);
    });
  }

  for (const [byteOrder, wire] of [
    ['big', '00 00 00 09 80 18 16 68 7e c7 b2 cd 15'],
    ['little', '09 00 00 00 80 15 cd b2 c7 7e 68 16 18'],
  ] as const) {
    test(`client - server time in a 13-byte heartbeat is reported as exact ms and ns (${byteOrder})`, async (t) => {
      const gate = await FakeGate.start(t, { byteOrder });
      gate.timeNs = TIME_NS;
      assert.equal(hex(gate.codec.encodeHeartbeat(TIME_NS)), wire, 'docs/protocol.md example');
      const client = makeClient(t, gate.url, { packet: { byteOrder }, heartbeat: { intervalMs: 50 } });
      await client.connect();
      const beat = await nextEvent(client, 'heartbeat');
      assert.equal(beat.timeNs, 1735689600123456789n);
      assert.equal(beat.timeMs, 1735689600123);
    });
  }

  test('client - server time ns → ms floors, before the epoch too', () => {
    assert.equal(nsToMs(TIME_NS), 1735689600123);
    assert.equal(nsToMs(999_999n), 0);
    assert.equal(nsToMs(-1n), -1);
    assert.equal(nsToMs(-1_000_000n), -1);
    assert.equal(nsToMs(undefined), undefined);
  });

  test('client - a 5-byte heartbeat reports no server time', async (t) => {
    const gate = await FakeGate.start(t);
    const client = makeClient(t, gate.url, { heartbeat: { intervalMs: 50 } });
    await client.connect();
    assert.deepEqual(await nextEvent(client, 'heartbeat'), { timeMs: undefined, timeNs: undefined });
  });

  test('client - a silent server is dropped after 2 heartbeat intervals and the client reconnects', async (t) => {
    const gate = await FakeGate.start(t);
    gate.onFrame = (sock, frame, index) => {
      if (index > 0) gate.answer(sock, frame); // the first connection never answers
    };
    const intervalMs = 60;
    const client = makeClient(t, gate.url, {
      heartbeat: { intervalMs },
      reconnect: { enabled: true, initialDelayMs: 5, maxDelayMs: 5 },
    });
    const closed = nextEvent(client, 'close');
    await client.connect();
    const openedAt = performance.now();
    const pendingReq = client.request(9, bytes(1), { timeoutMs: 0 });
    const info = await closed;
    const silentMs = performance.now() - openedAt;
    assert.equal(info.code, 4001);
    assert.equal(info.willReconnect, true);
    assert.ok(silentMs >= 2 * intervalMs - 2, `dropped after ${silentMs} ms, not before 2 intervals`);
    assert.ok(silentMs < 10 * intervalMs, `dropped after ${silentMs} ms`);
    await assert.rejects(pendingReq, (e: unknown) => e instanceof ConnectionClosedError && e.wsCode === 4001);
    const reopened = await nextEvent(client, 'open');
    assert.equal(reopened.isReconnect, true);
    assert.equal(gate.sockets.length, 2);
    assert.deepEqual((await client.request(1, bytes(5))).body, bytes(5));
    await until(() => gate.closeCodes.length === 1, 'the server saw the dead socket end');
  });

  test('client - a stalled event loop is not mistaken for a silent server (unread frames count)', async (t) => {
    const gate = await FakeGate.start(t);
    const intervalMs = 50;
    const client = makeClient(t, gate.url, { heartbeat: { intervalMs } });
    const log = record(client);
    await client.connect();
    await client.request(1, bytes(1));
    const sock = gate.sockets[0] as WebSocket;
    const pushed = new Promise<void>((resolve) =>
      sock.send(gate.codec.encode({ route: 2, body: bytes(2) }), () => resolve()),
    );
    await pushed;
    // Block the loop for 3 intervals: the push sits unread in the socket while the liveness timer comes due, and
    // timers run before socket reads in the next loop turn.
    const until3 = performance.now() + 3 * intervalMs;
    while (performance.now() < until3) {
      // busy wait on purpose: this simulates a stalled process or a throttled browser tab
    }
    await nextEvent(client, 'push', () => true, 2000);
    await nextEvent(client, 'heartbeat', () => true, 2000); // answered after the liveness check that followed the stall
    assert.deepEqual(
      log.filter((e) => e.name === 'close'),
      [],
      'the waiting push proved the server alive',
    );
    assert.equal(client.state, 'open');
  });

  test('client - any server frame keeps the connection alive, answered heartbeats or pushes', async (t) => {
    const gate = await FakeGate.start(t);
    const intervalMs = 60;
    // "tick" style: client heartbeats are not answered, but the server pushes every 15 ms.
    gate.onFrame = () => {};
    const client = makeClient(t, gate.url, { heartbeat: { intervalMs } });
    const log = record(client);
    await client.connect();
    const sock = gate.sockets[0] as WebSocket;
    const ticker = setInterval(() => sock.send(gate.codec.encode({ route: 2, body: bytes(1) })), 15);
    t.after(() => clearInterval(ticker));
    await until(() => client.lastPushCount >= 30, '30 pushes (over 7 intervals)');
    clearInterval(ticker);
    assert.equal(log.filter((e) => e.name === 'close').length, 0, 'not dropped while frames arrive');
    assert.equal(client.state, 'open');
    assert.ok(gate.received.length >= 3, 'the client kept sending heartbeats');
  });
});

describe('client - reconnect', () => {
  test('client - reconnects with capped, jittered exponential backoff and resets after success', async (t) => {
    const gate = await FakeGate.start(t);
    const reconnect = { enabled: true, initialDelayMs: 16, factor: 2, maxDelayMs: 80, jitter: 0.5 };
    const client = makeClient(t, gate.url, { reconnect });
    const log = record(client);
    await client.connect();
    gate.isRefusing = true;
    (gate.sockets[0] as WebSocket).terminate();
    await until(() => log.filter((e) => e.name === 'reconnecting').length >= 7, '7 reconnect attempts');
    gate.isRefusing = false;
    await nextEvent(client, 'open');

    const attempts = log.filter((e) => e.name === 'reconnecting');
    const close = log.find((e) => e.name === 'close');
    assert.deepEqual(close?.payload, { code: 1006, reason: '', willReconnect: true });
    attempts.forEach((e, i) => {
      const { attempt, delayMs } = e.payload as ClientEvents['reconnecting'];
      const base = Math.min(80, 16 * 2 ** i);
      assert.equal(attempt, i + 1);
      assert.ok(
        delayMs <= base && delayMs >= base * 0.5,
        `attempt ${attempt}: ${delayMs} ms not in [${base / 2}, ${base}]`,
      );
      assert.ok(delayMs <= 80, 'capped');
      // The next attempt came only after this delay (and the attempt's failure). 8 ms of slack: Node timers count
      // from the event loop's cached clock, which lags performance.now() when the loop is busy.
      const next = attempts[i + 1] ?? log.find((x) => x.name === 'open' && x.at > e.at);
      if (next !== undefined) assert.ok(next.at - e.at >= delayMs - 8, `waited ${next.at - e.at} ms < ${delayMs}`);
    });
    const delays = attempts.map((e) => (e.payload as ClientEvents['reconnecting']).delayMs);
    assert.ok(
      delays.some((d, i) => d !== Math.min(80, 16 * 2 ** i)),
      'jitter moved at least one delay off its base',
    );
    assert.deepEqual(log.at(-1)?.payload, { isReconnect: true });

    // A new outage starts again from attempt 1.
    (gate.sockets.at(-1) as WebSocket).terminate();
    const again = await nextEvent(client, 'reconnecting');
    assert.equal(again.attempt, 1);
    await nextEvent(client, 'open');
  });

  test('client - gives up after reconnect.maxAttempts with ConnectError and a final close', async (t) => {
    const gate = await FakeGate.start(t);
    const client = makeClient(t, gate.url, {
      reconnect: { enabled: true, initialDelayMs: 2, maxDelayMs: 4, maxAttempts: 3 },
    });
    const log = record(client);
    await client.connect();
    gate.isRefusing = true;
    (gate.sockets[0] as WebSocket).terminate();
    await nextEvent(client, 'reconnecting');
    const joined = client.connect(); // joins the attempts under way
    const err = await nextEvent(client, 'error');
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, ErrorCode.UNAVAILABLE);
    assert.equal(err.attempts, 3);
    assert.ok(err.cause instanceof Error, 'cause: the socket error (HTTP 401 from the refusing server)');
    await assert.rejects(joined, (e: unknown) => e === err);
    await until(() => client.state === 'closed', 'closed');
    assert.deepEqual(
      log.map((e) => e.name),
      ['open', 'close', 'reconnecting', 'reconnecting', 'reconnecting', 'error', 'close'],
    );
    const last = log.at(-1)?.payload as ClientEvents['close'] | undefined;
    assert.equal(last?.willReconnect, false);
  });

  test('client - the first connect() rejects with ConnectError and does not retry', async (t) => {
    const port = await freePort();
    const client = makeClient(t, `ws://127.0.0.1:${port}`, { reconnect: { enabled: true, initialDelayMs: 1 } });
    const log = record(client);
    const err = await client.connect().then(
      () => assert.fail('connected to a closed port'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, ErrorCode.UNAVAILABLE);
    assert.match(String((err.cause as { code?: string }).code), /ECONNREFUSED/);
    assert.equal(client.state, 'closed');
    assert.deepEqual(log, []);
  });

  test('client - a connection attempt that hangs (no HTTP answer) is dropped after connectTimeoutMs', async (t) => {
    const held: Socket[] = [];
    // Accepts TCP and reads (so it sees the client's FIN) but never answers the upgrade.
    const tcp = createServer((s) => {
      held.push(s);
      s.resume();
    });
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    t.after(() => {
      for (const s of held) s.destroy();
      tcp.close();
    });
    const addr = tcp.address();
    assert.ok(typeof addr === 'object' && addr !== null);
    const timersBefore = activeTimeouts();
    const client = makeClient(t, `ws://127.0.0.1:${addr.port}`, { connectTimeoutMs: 50 });
    const started = performance.now();
    await assert.rejects(
      client.connect(),
      (e: unknown) => e instanceof ConnectError && /not open after 50 ms/.test(e.message),
    );
    assert.ok(performance.now() - started >= 49);
    assert.equal(client.state, 'closed');
    await until(() => held.length === 1 && held[0]?.destroyed === true, 'the half-open socket was dropped');
    await untilImmediate(() => activeTimeouts() <= timersBefore, 'the connect timer released');
  });

  test('client - disconnect fails pending requests with ConnectionClosedError (reconnect off)', async (t) => {
    const gate = await FakeGate.start(t);
    gate.onFrame = () => {};
    const timersBefore = activeTimeouts();
    const client = makeClient(t, gate.url, { heartbeat: { intervalMs: 1000 } });
    await client.connect();
    const req = client.request(1, bytes(1));
    (gate.sockets[0] as WebSocket).close(4000, 'kicked');
    const err = await req.then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConnectionClosedError);
    assert.equal(err.code, ErrorCode.CLOSED);
    assert.equal(err.wsCode, 4000);
    assert.equal(err.reason, 'kicked');
    assert.equal(client.pendingCount, 0);
    assert.equal(client.state, 'closed');
    await untilImmediate(() => activeTimeouts() <= timersBefore, 'heartbeat and request timers released');
  });
});

describe('client - close', () => {
  test('client - explicit close does not reconnect, sends 1000 and leaves no timer behind', async (t) => {
    const gate = await FakeGate.start(t);
    const timersBefore = activeTimeouts();
    const client = makeClient(t, gate.url, {
      heartbeat: { intervalMs: 100 },
      reconnect: { enabled: true, initialDelayMs: 1 },
      requestTimeoutMs: 60_000,
    });
    const log = record(client);
    await client.connect();
    await client.request(1, bytes(1));
    gate.onFrame = () => {};
    const pending = assert.rejects(client.request(9, bytes(2)), ConnectionClosedError);
    assert.ok(activeTimeouts() > timersBefore, 'the heartbeat and request timers are visible to this check');
    const closing = client.close();
    assert.equal(client.close(), closing, 'a second close() shares the first');
    await closing;
    await pending;
    assert.equal(client.state, 'closed');
    assert.deepEqual(log.at(-1), {
      name: 'close',
      at: log.at(-1)?.at,
      payload: { code: 1000, reason: '', willReconnect: false },
    });
    assert.equal(log.filter((e) => e.name === 'reconnecting').length, 0);
    await until(() => gate.closeCodes.length === 1, 'server saw the close');
    assert.deepEqual(gate.closeCodes, [1000]);
    await untilImmediate(() => activeTimeouts() <= timersBefore, 'timers released');
    assert.equal(gate.sockets.length, 1, 'no reconnect');
    await client.close();

    // connect() after close() opens a fresh connection.
    await client.connect();
    assert.deepEqual(log.at(-1)?.payload, { isReconnect: false });
    assert.equal(gate.sockets.length, 2);
  });

  test('client - close() while reconnecting cancels the attempt and the connect() waiting on it', async (t) => {
    const gate = await FakeGate.start(t);
    const timersBefore = activeTimeouts();
    const client = makeClient(t, gate.url, {
      reconnect: { enabled: true, initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    await client.connect();
    (gate.sockets[0] as WebSocket).terminate();
    await nextEvent(client, 'reconnecting');
    const waiting = client.connect();
    const final = nextEvent(client, 'close');
    await client.close();
    await assert.rejects(waiting, ConnectionClosedError);
    assert.equal((await final).willReconnect, false);
    assert.equal(client.state, 'closed');
    await untilImmediate(() => activeTimeouts() <= timersBefore, 'the 60 s reconnect timer is gone');
  });

  test('client - close() rejects codes browsers refuse', async (t) => {
    const client = makeClient(t, 'ws://127.0.0.1:1');
    await assert.rejects(client.close(1001), ClientUsageError);
    await assert.rejects(client.close(1000, 'x'.repeat(124)), ClientUsageError);
    await client.close(4000, 'fine');
  });
});

describe('client - pushes and bad input', () => {
  test('client - pushes (seq 0) reach push listeners as copies, counted in lastPushCount', async (t) => {
    const gate = await FakeGate.start(t, { byteOrder: 'little', routeBytes: 4 });
    const client = makeClient(t, gate.url, { packet: { byteOrder: 'little', routeBytes: 4 } });
    const pushes: ClientEvents['push'][] = [];
    const off = client.on('push', (p) => pushes.push(p));
    await client.connect();
    const sock = gate.sockets[0] as WebSocket;
    for (let i = 0; i < 3; i++) sock.send(gate.codec.encode({ route: 70_000 + i, seq: 0, body: indexBody(i) }));
    await until(() => pushes.length === 3, '3 pushes');
    pushes.forEach((p, i) => {
      assert.deepEqual(p, { route: 70_000 + i, seq: 0, body: indexBody(i) });
      assert.equal(p.body.buffer.byteLength, 4, 'the body owns its buffer (no view into the frame)');
    });
    assert.equal(client.lastPushCount, 3);
    off();
    sock.send(gate.codec.encode({ route: 1, body: bytes(1) }));
    await until(() => client.lastPushCount === 4, 'the 4th push counted');
    assert.equal(pushes.length, 3, 'unsubscribed');
  });

  test('client - malformed and text frames never crash: errors are emitted, the connection stays', async (t) => {
    const gate = await FakeGate.start(t);
    const client = makeClient(t, gate.url);
    await client.connect();
    const sock = gate.sockets[0] as WebSocket;
    const errored = nextEvent(client, 'error');
    sock.send('text frames are ignored');
    sock.send(new Uint8Array(0));
    sock.send(bytes(0, 0, 0, 9, 0)); // size says 9, carries 1
    const err = await errored;
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, ErrorCode.PACKET_SIZE_MISMATCH);
    assert.equal(client.malformedCount, 1);
    assert.deepEqual((await client.request(1, bytes(4))).body, bytes(4));
  });

  test('client - a throwing listener is reported as ListenerError, other listeners still run', async (t) => {
    const gate = await FakeGate.start(t);
    const client = makeClient(t, gate.url);
    const boom = new Error('boom');
    client.on('push', () => {
      throw boom;
    });
    const second = nextEvent(client, 'push');
    const errored = nextEvent(client, 'error');
    await client.connect();
    (gate.sockets[0] as WebSocket).send(gate.codec.encode({ route: 1, body: bytes(1) }));
    await second;
    const err = await errored;
    assert.ok(err instanceof ListenerError);
    assert.equal(err.event, 'push');
    assert.equal(err.cause, boom);
  });
});

describe('client - WHATWG WebSocket', () => {
  test('client - runs on a browser-style WebSocket (Node --experimental-websocket: no terminate, no ws)', async (t) => {
    const gate = await FakeGate.start(t);
    // The first connection echoes data but never answers heartbeats: after one echo it is silent, and the client
    // must drop it with close(4001) and reconnect.
    gate.onFrame = (sock, frame, index) => {
      if (index > 0 || gate.codec.routeOf(frame) !== undefined) gate.answer(sock, frame);
    };
    const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
    const script = `
      import { Client } from ${JSON.stringify(entry)};
      const events = [];
      const c = new Client({ url: ${JSON.stringify(gate.url)}, heartbeat: { intervalMs: 100 },
        reconnect: { initialDelayMs: 1, maxDelayMs: 1 } });
      for (const n of ['open', 'close', 'reconnecting']) c.on(n, (p) => events.push([n, p]));
      await c.connect();
      const first = await c.request(1, new Uint8Array([1, 2]));
      await new Promise((resolve) => c.on('open', resolve));
      const second = await c.request(1, new Uint8Array([3]));
      await c.close();
      const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      console.log(JSON.stringify({ first: [...first.body], second: [...second.body], events, timers }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--experimental-websocket', '--no-warnings', '--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    assert.deepEqual(out.first, [1, 2]);
    assert.deepEqual(out.second, [3]);
    assert.deepEqual(
      out.events.map((e: [string, unknown]) => e[0]),
      ['open', 'close', 'reconnecting', 'open', 'close'],
    );
    assert.equal(out.events[1][1].code, 4001);
    assert.equal(out.timers, 0, 'no timer left after close()');
    // Without terminate(), the silent connection was closed with a close frame the server saw.
    await until(() => gate.closeCodes.length === 2, 'both connections closed');
    assert.deepEqual(gate.closeCodes, [4001, 1000]);
  });
});

describe('client - browser bundle', () => {
  test('client - bundles for the browser with esbuild (a Node-only import would fail the build)', async () => {
    const { build } = await import('esbuild');
    const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    assert.deepEqual(result.errors, []);
    const code = result.outputFiles[0]?.text ?? '';
    assert.match(code, /export \{[^}]*\bClient\b/);
    assert.doesNotMatch(code, /from ["']node:|require\(["']/);
  });
});

describe('client - options', () => {
  test('client - bad options throw errors naming the field', () => {
    assert.throws(
      () => new Client({ url: 'ws://x', WebSocket: WS, heartbeat: { intervalMs: -1 } }),
      (e: unknown) => e instanceof ConfigError && e.path === 'heartbeat.intervalMs',
    );
    assert.throws(
      () => new Client({ url: 'ws://x', WebSocket: WS, reconnect: { jitter: 2 } }),
      (e: unknown) => e instanceof ConfigError && e.path === 'reconnect.jitter',
    );
    assert.throws(
      () => new Client({ url: 'ws://x', WebSocket: WS, packet: { seqBytes: 3 as SeqBytes } }),
      (e: unknown) => e instanceof ProtocolError && e.code === ErrorCode.PACKET_OPTIONS,
    );
    assert.throws(() => new Client({ url: '', WebSocket: WS }), ConfigError);
    const client = new Client({ url: 'ws://x', WebSocket: WS });
    assert.throws(() => client.on('nope' as ClientEventName, () => {}), ClientUsageError);
  });

  test('client - without a WebSocket constructor (Node 20, no ws passed) the error says what to do', () => {
    if (typeof globalThis.WebSocket === 'function') return; // a runtime with a global WebSocket has nothing to report
    assert.throws(() => new Client({ url: 'ws://x' }), /pass the `ws` package/);
  });
});

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Polls without timers of its own (setImmediate), so it can wait for the timer count to drop. */
async function untilImmediate(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
