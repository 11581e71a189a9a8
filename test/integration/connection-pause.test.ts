// The login admission holds a socket's reads (Connection.pauseReading) during a storm: on both transports nothing
// is delivered while paused, everything sent meanwhile arrives in order on resume, and a paused WebSocket still
// completes a close handshake (the peer's close frame has to be read).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { TcpTransport } from '../../src/network/tcp-transport.js';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { until } from '../harness/embedded.js';

class Recorder implements ConnectionHandler {
  conn: Connection | undefined;
  frames: number[] = [];
  closedWith: number | undefined;
  open(c: Connection): void {
    this.conn = c;
  }
  frame(_c: Connection, bytes: Uint8Array): void {
    this.frames.push(bytes[bytes.length - 1] ?? -1);
  }
  closed(_c: Connection, code: number): void {
    this.closedWith = code;
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 150));

test('connection pause - WebSocket: held frames arrive in order on resume; a close handshake completes while paused', async (t) => {
  // The close deadline is far off: a close that waited for it (the peer's close frame left unread) would hang here.
  const transport = createWsTransport({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 64 * 1024,
    maxHandshakePerIp: 0,
    closeTimeoutMs: 120_000,
  });
  const h = new Recorder();
  const { port } = await transport.listen(h);
  t.after(() => transport.close());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await once(ws, 'open');
  await until(() => h.conn !== undefined, 'the connection');
  const c = h.conn as Connection;
  ws.send(Buffer.from([0, 1]));
  await until(() => h.frames.length === 1, 'the first frame');
  c.pauseReading();
  for (let i = 2; i <= 5; i++) ws.send(Buffer.from([0, i]));
  await settle();
  assert.deepEqual(h.frames, [1], 'nothing read while paused');
  c.resumeReading();
  await until(() => h.frames.length === 5, 'the held frames');
  assert.deepEqual(h.frames, [1, 2, 3, 4, 5]);
  // Paused again, then closed by the gate: the peer's close frame is read, so the close is clean (not 1006).
  c.pauseReading();
  let code: number | undefined;
  ws.on('close', (n: number) => {
    code = n;
  });
  void c.close(4000, 'bye');
  await until(() => code !== undefined, 'the client to see the close');
  assert.equal(code, 4000);
  await until(() => h.closedWith !== undefined, 'the close handshake to complete');
  assert.equal(h.closedWith, 4000);
});

test('connection pause - TCP: held packets arrive in order on resume', async (t) => {
  const transport = new TcpTransport({ host: '127.0.0.1', port: 0, maxFrameBytes: 64 * 1024, byteOrder: 'big' });
  const h = new Recorder();
  const { port } = await transport.listen(h);
  t.after(() => transport.close());
  const s = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  t.after(() => s.destroy());
  await once(s, 'connect');
  await until(() => h.conn !== undefined, 'the connection');
  const c = h.conn as Connection;
  // a due TCP packet: 4-byte big-endian size, then the packet (here 2 bytes, the last one numbering it)
  const packet = (n: number): Buffer => Buffer.from([0, 0, 0, 2, 0, n]);
  s.write(packet(1));
  await until(() => h.frames.length === 1, 'the first packet');
  c.pauseReading();
  for (let i = 2; i <= 5; i++) s.write(packet(i));
  await settle();
  assert.deepEqual(h.frames, [1], 'nothing read while paused');
  c.resumeReading();
  await until(() => h.frames.length === 5, 'the held packets');
  assert.deepEqual(h.frames, [1, 2, 3, 4, 5]);
});
