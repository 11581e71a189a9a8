import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import WebSocket from 'ws';
import { CloseCode } from '../../src/errors.js';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport, type WsTransport, type WsTransportOptions } from '../../src/network/ws-transport.js';

/** Records every handler call so tests can await them. */
class Recorder implements ConnectionHandler {
  readonly opened: Connection[] = [];
  readonly frames: { cid: number; bytes: Buffer }[] = [];
  readonly ends: { cid: number; code: number; reason: string }[] = [];

  open(c: Connection): void {
    this.opened.push(c);
  }
  frame(c: Connection, bytes: Uint8Array): void {
    this.frames.push({ cid: c.cid, bytes: Buffer.from(bytes) }); // copy: the view is valid only during the call
  }
  closed(c: Connection, code: number, reason: string): void {
    this.ends.push({ cid: c.cid, code, reason });
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type TestContext = { after: (fn: () => unknown) => void };

async function start(
  t: TestContext,
  opts: Partial<WsTransportOptions> = {},
): Promise<{ transport: WsTransport; rec: Recorder; url: string }> {
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024, ...opts });
  const rec = new Recorder();
  const { port } = await transport.listen(rec);
  t.after(() => transport.close());
  return { transport, rec, url: `ws://127.0.0.1:${port}` };
}

async function connect(t: TestContext, url: string, opts: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, opts);
  ws.on('error', () => {}); // failures show up as assertions on 'close'
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

test('ws-transport - binary frames arrive in order, text frames are ignored', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  for (let i = 0; i < 100; i++) {
    ws.send(Buffer.from([0, 0, 0, 1, i]));
    if (i % 10 === 0) ws.send('text is ignored');
  }
  await until(() => rec.frames.length >= 100, '100 frames');
  assert.equal(rec.opened.length, 1);
  assert.deepEqual(
    rec.frames.map((f) => f.bytes[4]),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.equal(rec.frames.length, 100);
});

test('ws-transport - send delivers binary frames to the client', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  const got: Buffer[] = [];
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, true);
    got.push(data as Buffer);
  });
  const c = rec.opened[0]!;
  assert.equal(c.send(Uint8Array.of(1, 2, 3)), 'sent');
  assert.equal(c.send(Uint8Array.of(4), 'control'), 'sent');
  await until(() => got.length === 2, 'two frames');
  assert.deepEqual(
    got.map((b) => [...b]),
    [[1, 2, 3], [4]],
  );
  assert.ok(c.cid > 0);
  assert.equal(c.remote, '127.0.0.1');
});

test('ws-transport - close sends a close frame with code and reason; closed fires once', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  const c = rec.opened[0]!;
  const clientClosed = once(ws, 'close');
  const p1 = c.close(CloseCode.KICKED, 'bye');
  const p2 = c.close(CloseCode.NORMAL, 'ignored');
  await Promise.all([p1, p2]);
  const [code, reason] = await clientClosed;
  assert.equal(code, CloseCode.KICKED);
  assert.equal(String(reason), 'bye');
  assert.deepEqual(rec.ends, [{ cid: c.cid, code: CloseCode.KICKED, reason: 'bye' }]);
  assert.equal(c.send(Uint8Array.of(1)), 'closed');
  c.terminate();
  await c.close(CloseCode.NORMAL);
  assert.equal(rec.ends.length, 1);
});

test('ws-transport - terminate drops the socket: the client sees 1006', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  const c = rec.opened[0]!;
  const clientClosed = once(ws, 'close');
  c.terminate();
  c.terminate();
  const [code] = await clientClosed;
  assert.equal(code, 1006);
  await until(() => rec.ends.length === 1, 'closed');
  assert.equal(rec.ends[0]!.code, 1006);
});

test('ws-transport - a client close reaches handler.closed with its code', async (t) => {
  const { transport, rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  ws.close(4321, 'client leaves');
  await until(() => rec.ends.length === 1, 'closed');
  assert.deepEqual(rec.ends[0], { cid: rec.opened[0]!.cid, code: 4321, reason: 'client leaves' });
  assert.equal(transport.stats.connections, 0);
});
