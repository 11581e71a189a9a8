import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { CloseCode, ClosedError, ConfigError, type DuetError, ErrorCode, UnavailableError } from '../../src/errors.js';
import { RefusalReason } from '../../src/network/admission.js';
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

test('ws-transport - a zero-length binary frame reaches the handler (it counts as liveness)', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  ws.send(Buffer.alloc(0));
  ws.send(Uint8Array.of(5));
  await until(() => rec.frames.length === 2, 'two frames');
  assert.deepEqual(
    rec.frames.map((f) => f.bytes.length),
    [0, 1],
  );
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

/** Opens a ws client that must be refused: resolves with the HTTP status and body; fails if it ever opens. */
function refused(url: string, opts: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', (err) => reject(err));
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
  });
}

/** A hand-made HTTP request (any method, with or without upgrade headers): status and body, or 101. */
function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false });
    req.on('error', reject);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.end();
  });
}

const UPGRADE_HEADERS = {
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

function portOf(url: string): number {
  return Number(new URL(url).port);
}

test('ws-transport - a POST upgrade gets 405 with Allow: GET', async (t) => {
  const { transport, rec, url } = await start(t);
  const res = await rawRequest(portOf(url), 'POST', '/', UPGRADE_HEADERS);
  assert.equal(res.status, 405);
  assert.equal(res.body, RefusalReason.METHOD);
  const ok = await rawRequest(portOf(url), 'GET', '/', UPGRADE_HEADERS);
  assert.equal(ok.status, 101);
  assert.equal(transport.stats.refused[RefusalReason.METHOD], 1);
  await until(() => rec.ends.length === 1, 'raw upgrade closed');
  // admitted, but ws itself rejects a handshake without Sec-WebSocket-Key
  const { 'Sec-WebSocket-Key': _key, ...noKey } = UPGRADE_HEADERS;
  assert.equal((await rawRequest(portOf(url), 'GET', '/', noKey)).status, 400);
  assert.equal(transport.stats.refused['bad-handshake'], 1);
  assert.equal(rec.opened.length, 1);
});

test('ws-transport - a bad or missing Origin gets 403; an exact origin passes', async (t) => {
  const { rec, url } = await start(t, { origins: ['https://game.example'] });
  assert.equal((await refused(url, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await refused(url, { origin: 'https://game.example.evil' })).status, 403);
  assert.equal((await refused(url)).status, 403);
  await connect(t, url, { origin: 'https://game.example' });
  await until(() => rec.opened.length === 1, 'open');
});

test('ws-transport - an empty origins list refuses every upgrade with 403', async (t) => {
  const { rec, url } = await start(t, { origins: [] });
  assert.equal((await refused(url)).status, 403);
  assert.equal((await refused(url, { origin: 'https://game.example' })).status, 403);
  assert.equal(rec.opened.length, 0);
});

test('ws-transport - a wrong path gets 404; the configured path opens, query ignored', async (t) => {
  const { rec, url } = await start(t, { path: '/ws' });
  assert.equal((await refused(`${url}/`)).status, 404);
  assert.equal((await refused(`${url}/other`)).status, 404);
  assert.equal((await refused(`${url}/ws/x`)).status, 404);
  await connect(t, `${url}/ws?token=abc`);
  await until(() => rec.opened.length === 1, 'open');
});

test('ws-transport - maxConnNum is refused with 503 before upgrading; cids are never reused', async (t) => {
  const { transport, rec, url } = await start(t, { maxConnNum: 2 });
  const a = await connect(t, url);
  await connect(t, url);
  const r = await refused(url);
  assert.equal(r.status, 503);
  assert.equal(r.body, RefusalReason.MAX_CONN);
  assert.equal(rec.opened.length, 2);
  assert.equal(transport.stats.refused[RefusalReason.MAX_CONN], 1);
  a.close();
  await until(() => rec.ends.length === 1, 'a closed');
  await connect(t, url);
  await until(() => rec.opened.length === 3, 'third open');
  assert.deepEqual(
    rec.opened.map((c) => c.cid),
    [1, 2, 3],
  );
  assert.equal(transport.stats.connections, 2);
});

test('ws-transport - refuseNew answers 503 and keeps open connections', async (t) => {
  const { transport, rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  transport.refuseNew();
  const r = await refused(url);
  assert.deepEqual(r, { status: 503, body: RefusalReason.CLOSING });
  const got = once(ws, 'message');
  assert.equal(rec.opened[0]!.send(Uint8Array.of(7)), 'sent');
  assert.deepEqual([...((await got)[0] as Buffer)], [7]);
});

test('ws-transport - a frame over maxPayload closes the connection with 1009', async (t) => {
  const { rec, url } = await start(t, { maxPayload: 1024 });
  const ws = await connect(t, url);
  ws.send(Buffer.alloc(1024, 1));
  ws.send(Buffer.alloc(1025, 2));
  const [code] = await once(ws, 'close');
  assert.equal(code, CloseCode.TOO_LARGE);
  await until(() => rec.ends.length === 1, 'closed');
  assert.equal(rec.ends[0]!.code, CloseCode.TOO_LARGE);
  assert.equal(rec.frames.length, 1);
  assert.equal(rec.frames[0]!.bytes.length, 1024);
});

test('ws-transport - protocol garbage closes that socket (1002 once); non-HTTP bytes never reach the handler', async (t) => {
  const { transport, rec, url } = await start(t);
  const other = await connect(t, url);
  // an unmasked client frame breaks RFC 6455 5.1: ws answers 1002
  const raw = await new Promise<Duplex>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: portOf(url), path: '/', headers: UPGRADE_HEADERS, agent: false });
    req.on('error', reject);
    req.on('upgrade', (_res, socket) => resolve(socket));
    req.end();
  });
  t.after(() => raw.destroy());
  raw.on('error', () => {});
  raw.resume();
  raw.write(Buffer.from([0x82, 0x02, 0x01, 0x02]));
  await until(() => rec.ends.length === 1, 'garbage connection closed');
  assert.equal(rec.ends[0]!.code, CloseCode.PROTOCOL_ERROR);
  assert.equal(rec.frames.length, 0);
  const junk = tcpConnect(portOf(url), '127.0.0.1');
  t.after(() => junk.destroy());
  junk.on('error', () => {});
  junk.write(Buffer.from('\x00\xff garbage \r\n\r\n'));
  let answer = '';
  junk.on('data', (d: Buffer) => {
    answer += d.toString('latin1');
  });
  await once(junk, 'close');
  assert.match(answer, /^HTTP\/1\.1 400/);
  const got = once(other, 'message');
  assert.equal(rec.opened[0]!.send(Uint8Array.of(3)), 'sent');
  assert.deepEqual([...((await got)[0] as Buffer)], [3]);
  assert.equal(transport.stats.connections, 1);
  assert.equal(rec.ends.length, 1);
});

test('ws-transport - close with an unsendable code rejects and keeps the connection; long reasons are cut', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  const c = rec.opened[0]!;
  await assert.rejects(c.close(1006), RangeError);
  assert.equal(c.send(Uint8Array.of(1)), 'sent');
  const clientClosed = once(ws, 'close');
  await c.close(CloseCode.KICKED, 'x'.repeat(500));
  const [code, reason] = await clientClosed;
  assert.equal(code, CloseCode.KICKED);
  assert.equal(String(reason), 'x'.repeat(123));
  assert.equal(rec.ends[0]!.reason, 'x'.repeat(123));
});

test('ws-transport - graceful close flushes 1,000 queued frames, then the close frame arrives', async (t) => {
  const { rec, url } = await start(t, { writeQueue: { maxMessages: 2000, maxBytes: 64 * 1024 * 1024 } });
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  const c = rec.opened[0]!;
  const got: number[] = [];
  ws.on('message', (data: Buffer) => got.push(data.readUInt32BE(0)));
  const clientClosed = once(ws, 'close');
  const results: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const frame = Buffer.alloc(20 * 1024); // above the socket's 16 KiB high-water mark: the rest queue
    frame.writeUInt32BE(i, 0);
    results.push(c.send(frame));
  }
  assert.ok(results.filter((r) => r === 'queued').length >= 900, 'most frames waited in the queue');
  assert.ok(c.bufferedBytes > 900 * 20 * 1024);
  await c.close(CloseCode.DISPLACED, 'flushed');
  const [code, reason] = await clientClosed;
  assert.equal(code, CloseCode.DISPLACED);
  assert.equal(String(reason), 'flushed');
  assert.deepEqual(
    got,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.deepEqual(rec.ends, [{ cid: c.cid, code: CloseCode.DISPLACED, reason: 'flushed' }]);
});

test('ws-transport - queued control and response frames overtake queued pushes', async (t) => {
  const { rec, url } = await start(t);
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  const c = rec.opened[0]!;
  const got: string[] = [];
  ws.on('message', (data: Buffer) => got.push(data.toString('latin1', 0, 2)));
  const frame = (tag: string) => Buffer.concat([Buffer.from(tag, 'latin1'), Buffer.alloc(20 * 1024)]);
  assert.equal(c.send(frame('p0')), 'sent');
  assert.equal(c.send(frame('p1')), 'queued');
  assert.equal(c.send(frame('p2'), 'push'), 'queued');
  assert.equal(c.send(frame('r0'), 'response'), 'queued');
  assert.equal(c.send(frame('c0'), 'control'), 'queued');
  assert.equal(c.send(frame('r1'), 'response'), 'queued');
  await until(() => got.length === 6, 'six frames');
  assert.deepEqual(got, ['p0', 'c0', 'r0', 'r1', 'p1', 'p2']);
});

test('ws-transport - a slow consumer overflows its budget, is closed with 4006, others are unaffected', async (t) => {
  const { transport, rec, url } = await start(t, {
    writeQueue: { maxMessages: 10_000, maxBytes: 256 * 1024 },
    closeTimeoutMs: 300, // the paused client never answers the close frame
  });
  const slow = await connect(t, url);
  const fast = await connect(t, url);
  await until(() => rec.opened.length === 2, 'open');
  const [slowConn, fastConn] = rec.opened as [Connection, Connection];
  slow.pause(); // stops reading the socket: the kernel buffers fill, then ours
  let fastGot = 0;
  fast.on('message', () => fastGot++);
  const frame = new Uint8Array(64 * 1024);
  let result = '';
  let sentToFast = 0;
  const deadline = Date.now() + 15_000;
  for (let i = 0; i < 5000 && Date.now() < deadline; i++) {
    result = slowConn.send(frame);
    if (result === 'overflow' || result === 'closed') break;
    if (i % 10 === 0) {
      fastConn.send(Uint8Array.of(1));
      sentToFast++;
    }
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(result, 'overflow');
  assert.equal(slowConn.send(frame), 'closed');
  await until(() => rec.ends.length === 1, 'slow consumer closed', 10_000);
  assert.deepEqual(rec.ends[0], { cid: slowConn.cid, code: CloseCode.SLOW_CONSUMER, reason: 'slow consumer' });
  assert.equal(transport.stats.slowConsumers, 1);
  await until(() => fastGot === sentToFast, 'fast client got every frame');
  assert.equal(fastConn.send(Uint8Array.of(2)), 'sent');
  await until(() => fastGot === sentToFast + 1, 'fast client still served');
  assert.equal(transport.stats.connections, 1);
});

test('ws-transport - a graceful close the client never answers is terminated after closeTimeoutMs', async (t) => {
  const { rec, url } = await start(t, { closeTimeoutMs: 200 });
  const ws = await connect(t, url);
  await until(() => rec.opened.length === 1, 'open');
  ws.pause(); // never reads the close frame, never answers it
  const started = Date.now();
  await rec.opened[0]!.close(CloseCode.KICKED, 'kick');
  assert.ok(Date.now() - started >= 150, 'waited for the close deadline');
  assert.deepEqual(rec.ends, [{ cid: rec.opened[0]!.cid, code: CloseCode.KICKED, reason: 'kick' }]);
});

test('ws-transport - a throwing frame handler closes that connection with 1011 and is reported', async (t) => {
  const errors: string[] = [];
  const { rec, url } = await start(t, { reportError: (_err, context) => errors.push(context) });
  rec.frame = () => {
    throw new Error('handler bug');
  };
  const ws = await connect(t, url);
  ws.send(Uint8Array.of(1));
  const [code] = await once(ws, 'close');
  assert.equal(code, CloseCode.INTERNAL);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /handler\.frame/);
});

test('ws-transport - a throwing open handler terminates that connection only', async (t) => {
  const errors: string[] = [];
  const { transport, rec, url } = await start(t, { reportError: (_err, context) => errors.push(context) });
  const open = rec.open.bind(rec);
  let isFirst = true;
  rec.open = (c) => {
    open(c);
    if (isFirst) {
      isFirst = false;
      throw new Error('open bug');
    }
  };
  const bad = new WebSocket(url);
  bad.on('error', () => {});
  t.after(() => bad.terminate());
  const code = await new Promise<number>((resolve) => bad.on('close', resolve));
  assert.equal(code, 1006);
  await connect(t, url);
  await until(() => rec.opened.length === 2 && rec.ends.length === 1, 'second open');
  assert.deepEqual(errors, ['connection 1: handler.open']);
  assert.equal(transport.stats.connections, 1);
});

test('ws-transport - plain HTTP gets 426 unless httpHandler serves it', async (t) => {
  const { url } = await start(t, {
    httpHandler: (req, res) => {
      if (req.url !== '/healthz') return false;
      res.end('ok');
      return true;
    },
  });
  assert.deepEqual(await rawRequest(portOf(url), 'GET', '/healthz', {}), { status: 200, body: 'ok' });
  assert.equal((await rawRequest(portOf(url), 'GET', '/', {})).status, 426);
  const { url: bare } = await start(t);
  assert.equal((await rawRequest(portOf(bare), 'GET', '/healthz', {})).status, 426);
});

test('ws-transport - onUpgrade can refuse with 403 and runs only after admission', async (t) => {
  const seen: string[] = [];
  const { transport, rec, url } = await start(t, {
    path: '/ws',
    onUpgrade: (req) => {
      seen.push(req.url ?? '');
      return req.url?.includes('token=good') ? undefined : { status: 403, reason: 'bad token' };
    },
  });
  assert.deepEqual(await refused(`${url}/ws?token=bad`), { status: 403, body: 'bad token' });
  assert.equal((await refused(`${url}/nope?token=good`)).status, 404);
  await connect(t, `${url}/ws?token=good`);
  await until(() => rec.opened.length === 1, 'open');
  assert.deepEqual(seen, ['/ws?token=bad', '/ws?token=good']);
  assert.deepEqual(transport.stats.refused, { [RefusalReason.UPGRADE_HOOK]: 1, [RefusalReason.PATH]: 1 });
});

test('ws-transport - the per-IP limit refuses with 429; other IPs still connect', async (t) => {
  const { transport, rec, url } = await start(t, { maxConnPerIp: 2 });
  await connect(t, url);
  await connect(t, url);
  assert.deepEqual(await refused(url), { status: 429, body: RefusalReason.MAX_CONN_PER_IP });
  await connect(t, url, { localAddress: '127.0.0.2' });
  await until(() => rec.opened.length === 3, 'open');
  assert.equal(rec.opened[2]!.remote, '127.0.0.2');
  assert.equal(transport.stats.refused[RefusalReason.MAX_CONN_PER_IP], 1);
});

test('ws-transport - TLS: keyFile and certFile serve wss://', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'duet-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-days',
    '1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  const { transport, rec, url } = await start(t, { tls: { keyFile, certFile } });
  assert.equal(transport.isTls, true);
  const ws = await connect(t, url.replace('ws://', 'wss://'), { rejectUnauthorized: false });
  ws.send(Uint8Array.of(9, 9));
  await until(() => rec.frames.length === 1, 'frame over TLS');
  const got: number[] = [];
  ws.on('message', (data: Buffer) => got.push(data[0]!));
  const big = (tag: number) => Buffer.alloc(20 * 1024, tag);
  // above the 16 KiB high-water mark: the second frame waits for the TLS socket's 'drain'
  assert.deepEqual([rec.opened[0]!.send(big(1)), rec.opened[0]!.send(big(2))], ['sent', 'queued']);
  await until(() => got.length === 2, 'two frames over TLS');
  assert.deepEqual(got, [1, 2]);
  // a plain ws:// client cannot talk to the TLS port
  const plain = new WebSocket(url);
  plain.on('error', () => {});
  t.after(() => plain.terminate());
  // events.once would reject on the client's 'error'; the close code is what matters
  const code = await new Promise<number>((resolve) => plain.on('close', resolve));
  assert.equal(code, 1006);
  assert.equal(rec.opened.length, 1);
});

test('ws-transport - bad options and misuse raise typed errors', async (t) => {
  assert.throws(() => createWsTransport({ port: 0, maxPayload: 0 }), ConfigError);
  assert.throws(() => createWsTransport({ port: 0, maxPayload: 10, tls: { keyFile: 'k' } }), ConfigError);
  assert.throws(() => createWsTransport({ port: 0, maxPayload: 10, writeQueue: { maxBytes: 0 } }), ConfigError);
  const missing = createWsTransport({ port: 0, maxPayload: 10, tls: { keyFile: '/nonexistent/k', certFile: '/x/c' } });
  await assert.rejects(missing.listen(new Recorder()), ConfigError);
  const { transport, url } = await start(t);
  await assert.rejects(transport.listen(new Recorder()), (e: DuetError) => e.code === ErrorCode.ILLEGAL_OPERATION);
  const clash = createWsTransport({ host: '127.0.0.1', port: portOf(url), maxPayload: 10 });
  await assert.rejects(clash.listen(new Recorder()), UnavailableError);
  await clash.close();
  const racing = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 10 });
  const listening = racing.listen(new Recorder());
  await racing.close();
  await assert.rejects(listening, ClosedError);
  const closedFirst = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 10 });
  await closedFirst.close();
  await assert.rejects(closedFirst.listen(new Recorder()), (e: DuetError) => e.code === ErrorCode.ILLEGAL_OPERATION);
  const c = transport.stats;
  assert.equal(c.connections, 0);
  assert.throws(() => createWsTransport({ port: 0, maxPayload: 10, path: 'ws' }), ConfigError);
});

test('ws-transport - close() ends every connection, closes the listener and leaves no handles', async () => {
  // node:test runs each file in its own process and every test here cleans up, so the baseline is no TCP handle
  // (timers are left out: the runner keeps one per test)
  const sockets = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'TLSWrap');
  await until(() => sockets().length === 0, 'earlier tests released their sockets');
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 1024, closeTimeoutMs: 100 });
  const rec = new Recorder();
  const { port } = await transport.listen(rec);
  const clients = await Promise.all(
    [0, 1, 2].map(async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      ws.on('error', () => {});
      await once(ws, 'open');
      return ws;
    }),
  );
  await until(() => rec.opened.length === 3, 'three open');
  assert.ok(sockets().length >= 7, 'server, three accepted and three client sockets');
  void rec.opened[0]!.close(CloseCode.GOING_AWAY, 'stopping');
  const closes = clients.map((ws) => new Promise((resolve) => ws.on('close', resolve)));
  await Promise.all([transport.close(), transport.close()]);
  assert.equal(rec.ends.length, 3);
  assert.deepEqual(rec.ends.map((e) => e.cid).sort(), [1, 2, 3]);
  assert.equal(transport.stats.connections, 0);
  await Promise.all(closes);
  const afterClose = await refused(`ws://127.0.0.1:${port}`).catch((e: Error & { code?: string }) => e.code);
  assert.equal(afterClose, 'ECONNREFUSED');
  await until(() => sockets().length === 0, `no sockets left: ${process.getActiveResourcesInfo().join(',')}`);
});
