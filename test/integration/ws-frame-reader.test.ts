// Issue 15: the transport parses client frames itself (src/network/ws-frame-reader.ts) and hands ws only what is not
// a plain binary frame. A raw TCP client writes hand-made frames over loopback, so the tests control exactly how
// frames are framed, masked, split and batched, and read the server's answers (pong, close) byte for byte.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import { test } from 'node:test';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { until } from '../harness/embedded.js';

const MAX_PAYLOAD = 100_000;
const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

class Recorder implements ConnectionHandler {
  readonly opened: Connection[] = [];
  readonly frames: Buffer[] = [];
  readonly ends: { code: number; reason: string }[] = [];
  open(c: Connection): void {
    this.opened.push(c);
  }
  frame(_c: Connection, bytes: Uint8Array): void {
    this.frames.push(Buffer.from(bytes));
  }
  closed(_c: Connection, code: number, reason: string): void {
    this.ends.push({ code, reason });
  }
}

interface FrameOptions {
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
  /** Claimed payload length when it differs from the bytes sent (an oversized header). */
  length?: number;
}

let maskSeed = 1;
/** One client frame; the mask changes per frame so unmasking at every alignment is exercised. */
function frame(opcode: number, payload: Buffer, opts: FrameOptions = {}): Buffer {
  const { fin = true, mask = true, rsv = 0 } = opts;
  const length = opts.length ?? payload.length;
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? length : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(length, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = [maskSeed & 255, (maskSeed * 7) & 255, (maskSeed * 13) & 255, (maskSeed * 31) & 255];
  maskSeed++;
  head.set(key, 2 + ext);
  const body = Buffer.from(payload.map((b, i) => b ^ (key[i & 3] as number)));
  return Buffer.concat([head, body]);
}

function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
}

function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

/** A WebSocket client without a library: handshake by hand, server frames parsed as they come. */
class RawClient {
  readonly received: { opcode: number; payload: Buffer }[] = [];
  isEnded = false;
  #buf = Buffer.alloc(0);
  #isUpgraded = false;
  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('close', () => {
      this.isEnded = true;
    });
    socket.on('error', () => {}); // a reset shows up as isEnded
  }

  get closeCode(): number | undefined {
    const close = this.received.find((f) => f.opcode === OP_CLOSE);
    return close === undefined ? undefined : close.payload.readUInt16BE(0);
  }

  #data(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    if (!this.#isUpgraded) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      assert.match(this.#buf.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
      this.#isUpgraded = true;
      this.#buf = this.#buf.subarray(end + 4);
    }
    for (;;) {
      if (this.#buf.length < 2) return;
      const len7 = (this.#buf[1] as number) & 0x7f;
      const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
      if (this.#buf.length < 2 + ext) return;
      const len = ext === 0 ? len7 : ext === 2 ? this.#buf.readUInt16BE(2) : Number(this.#buf.readBigUInt64BE(2));
      if (this.#buf.length < 2 + ext + len) return;
      const opcode = (this.#buf[0] as number) & 0x0f;
      this.received.push({ opcode, payload: Buffer.from(this.#buf.subarray(2 + ext, 2 + ext + len)) });
      this.#buf = this.#buf.subarray(2 + ext + len);
    }
  }

  get isUpgraded(): boolean {
    return this.#isUpgraded;
  }
}

type TestContext = { after: (fn: () => unknown) => void };

interface Started {
  rec: Recorder;
  client: RawClient;
  errors: string[];
  /** Connections the reader handed to ws: 0 while it parses every frame itself. */
  handedToWs: () => number;
}

async function start(t: TestContext): Promise<Started> {
  const errors: string[] = [];
  const transport = createWsTransport({
    host: '127.0.0.1',
    port: 0,
    maxPayload: MAX_PAYLOAD,
    reportError: (err, context) => errors.push(`${context}: ${String(err)}`),
  });
  const rec = new Recorder();
  const { port } = await transport.listen(rec);
  t.after(() => transport.close());
  const socket = tcpConnect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const client = new RawClient(socket);
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await until(() => client.isUpgraded && rec.opened.length === 1, 'upgrade');
  return { rec, client, errors, handedToWs: () => transport.stats.handedToWs };
}

test('ws frame reader - many frames in one write arrive whole and in order, bytesIn counted', async (t) => {
  const { rec, client, errors, handedToWs } = await start(t);
  const payloads = Array.from({ length: 60 }, (_, i) => pattern((i * 37) % 400, i));
  client.socket.write(Buffer.concat(payloads.map((p) => frame(OP_BINARY, p))));
  await until(() => rec.frames.length === payloads.length, 'all frames');
  assert.deepEqual(rec.frames, payloads);
  const total = payloads.reduce((n, p) => n + p.length, 0);
  assert.equal(rec.opened[0]?.bytesIn, total);
  // the takeover found ws's one 'data' listener: no fallback was reported
  assert.deepEqual(errors, []);
  // the reader parsed every frame itself: nothing went to ws for good
  assert.equal(handedToWs(), 0);
});

test('ws frame reader - a frame written one byte at a time, then one split across its header', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  const payload = pattern(300, 5); // 16-bit length: the header is 8 bytes, so splits fall inside it
  const bytes = Buffer.concat([frame(OP_BINARY, payload), frame(OP_BINARY, pattern(3, 9))]);
  for (let i = 0; i < bytes.length; i++) {
    client.socket.write(bytes.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  await until(() => rec.frames.length === 2, 'both frames');
  assert.deepEqual(rec.frames, [payload, pattern(3, 9)]);
  // the reader parsed every frame itself: nothing went to ws for good
  assert.equal(handedToWs(), 0);
});

test('ws frame reader - a 70,000-byte frame (64-bit length) and a 200-byte one (16-bit length)', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  const big = pattern(70_000, 3);
  const mid = pattern(200, 4);
  client.socket.write(Buffer.concat([frame(OP_BINARY, big), frame(OP_BINARY, mid), frame(OP_BINARY, big)]));
  await until(() => rec.frames.length === 3, 'three frames');
  assert.deepEqual(rec.frames, [big, mid, big]);
  // the reader parsed every frame itself: nothing went to ws for good
  assert.equal(handedToWs(), 0);
});

test('ws frame reader - a ping between binary frames is answered with its pong', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  const ping = Buffer.from('are you there');
  client.socket.write(
    Buffer.concat([frame(OP_BINARY, pattern(10, 1)), frame(OP_PING, ping), frame(OP_BINARY, pattern(20, 2))]),
  );
  await until(() => rec.frames.length === 2 && client.received.length === 1, 'frames and pong');
  assert.deepEqual(rec.frames, [pattern(10, 1), pattern(20, 2)]);
  assert.deepEqual(client.received, [{ opcode: OP_PONG, payload: ping }]);
  // the reader parsed every frame itself: nothing went to ws for good
  assert.equal(handedToWs(), 0);
});

test('ws frame reader - a fragmented binary message is delivered once, assembled; frames after it still arrive', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  const parts = [pattern(100, 1), pattern(5000, 2), pattern(0), pattern(7, 3)];
  client.socket.write(
    Buffer.concat([
      frame(OP_BINARY, parts[0] as Buffer, { fin: false }),
      frame(OP_CONT, parts[1] as Buffer, { fin: false }),
      frame(OP_PING, Buffer.from('mid')), // control frames may sit between fragments
      frame(OP_CONT, parts[2] as Buffer, { fin: false }),
      frame(OP_CONT, parts[3] as Buffer, { fin: true }),
      frame(OP_BINARY, pattern(4, 8)),
    ]),
  );
  await until(() => rec.frames.length === 2 && client.received.length === 1, 'message, frame and pong');
  assert.deepEqual(rec.frames, [Buffer.concat(parts), pattern(4, 8)]);
  assert.deepEqual(client.received, [{ opcode: OP_PONG, payload: Buffer.from('mid') }]);
  assert.equal(rec.ends.length, 0);
  // the reader parsed every frame itself: nothing went to ws for good
  assert.equal(handedToWs(), 0);
});

test('ws frame reader - a text frame is ignored and binary frames around it arrive', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  client.socket.write(
    Buffer.concat([
      frame(OP_BINARY, pattern(6, 1)),
      frame(OP_TEXT, Buffer.from('text is ignored')),
      frame(OP_BINARY, pattern(6, 2)),
    ]),
  );
  await until(() => rec.frames.length === 2, 'binary frames');
  client.socket.write(frame(OP_BINARY, pattern(6, 3)));
  await until(() => rec.frames.length === 3, 'a later frame');
  assert.deepEqual(rec.frames, [pattern(6, 1), pattern(6, 2), pattern(6, 3)]);
  assert.equal(rec.ends.length, 0);
  // from that frame on the stream is ws's
  assert.equal(handedToWs(), 1);
});

test('ws frame reader - an unmasked frame closes 1002, as ws does', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  client.socket.write(
    Buffer.concat([frame(OP_BINARY, pattern(5, 1)), frame(OP_BINARY, pattern(5, 2), { mask: false })]),
  );
  await until(() => rec.ends.length === 1 && client.closeCode !== undefined, 'close');
  assert.deepEqual(rec.frames, [pattern(5, 1)]);
  assert.equal(client.closeCode, 1002);
  assert.equal(rec.ends[0]?.code, 1002);
  // from that frame on the stream is ws's
  assert.equal(handedToWs(), 1);
});

test('ws frame reader - RSV bits set close 1002', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  client.socket.write(frame(OP_BINARY, pattern(5, 1), { rsv: 4 }));
  await until(() => rec.ends.length === 1 && client.closeCode !== undefined, 'close');
  assert.equal(rec.frames.length, 0);
  assert.equal(client.closeCode, 1002);
  // from that frame on the stream is ws's
  assert.equal(handedToWs(), 1);
});

test('ws frame reader - a frame over maxPayload closes 1009 from its header alone', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  // only the header and a few payload bytes are sent: the close must not wait for the rest
  const header = frame(OP_BINARY, Buffer.alloc(0), { length: MAX_PAYLOAD + 1 });
  client.socket.write(Buffer.concat([header, pattern(10)]));
  await until(() => rec.ends.length === 1 && client.closeCode !== undefined, 'close');
  assert.equal(rec.frames.length, 0);
  assert.equal(client.closeCode, 1009);
  assert.equal(rec.ends[0]?.code, 1009);
  // from that frame on the stream is ws's
  assert.equal(handedToWs(), 1);
});

test('ws frame reader - a close frame gets the close handshake', async (t) => {
  const { rec, client, handedToWs } = await start(t);
  client.socket.write(Buffer.concat([frame(OP_BINARY, pattern(8, 1)), frame(OP_CLOSE, closePayload(1000, 'bye'))]));
  await until(() => rec.ends.length === 1 && client.isEnded, 'close handshake');
  assert.deepEqual(rec.frames, [pattern(8, 1)]);
  assert.deepEqual(client.received, [{ opcode: OP_CLOSE, payload: closePayload(1000, 'bye') }]);
  assert.deepEqual(rec.ends, [{ code: 1000, reason: 'bye' }]);
  // from that frame on the stream is ws's
  assert.equal(handedToWs(), 1);
});

test('ws frame reader - a large forwarded fragment, then a frame split across writes, arrive in order', async (t) => {
  const { rec, client } = await start(t);
  // the 20,000-byte fragment goes to ws in one call; the frames after it are cut so their end comes in a later write
  const first = pattern(20_000, 1);
  const last = pattern(10, 2);
  const after = pattern(300, 3);
  const bytes = Buffer.concat([
    frame(OP_BINARY, first, { fin: false }),
    frame(OP_CONT, last),
    frame(OP_BINARY, after),
    frame(OP_BINARY, pattern(5, 4)),
  ]);
  client.socket.write(bytes.subarray(0, bytes.length - 20));
  await new Promise((r) => setImmediate(r));
  client.socket.write(bytes.subarray(bytes.length - 20));
  await until(() => rec.frames.length === 3, 'message and frames');
  assert.deepEqual(rec.frames, [Buffer.concat([first, last]), after, pattern(5, 4)]);
  assert.equal(rec.ends.length, 0);
});
