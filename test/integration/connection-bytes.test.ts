// Issue 19: `duet sessions` shows each session's packet bytes in and out. Both transports count the packet bytes
// of every frame read and written (framing not counted), a prepared fan-out frame included; and a prepared frame
// reaches a TCP client as the packet itself (it once reached TCP's write as an object and threw).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { PreparedFrame } from '../../src/network/prepared-frame.js';
import { TcpTransport } from '../../src/network/tcp-transport.js';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { until } from '../harness/embedded.js';

class Echo implements ConnectionHandler {
  conn: Connection | undefined;
  open(c: Connection): void {
    this.conn = c;
  }
  frame(c: Connection, bytes: Uint8Array): void {
    c.send(bytes.slice(), 'response');
  }
  closed(): void {}
}

/** A TCP packet as due frames it: a 4-byte big-endian size, then that many bytes. */
function tcpPacket(bodyBytes: number, fill: number): Buffer {
  const p = Buffer.alloc(4 + bodyBytes, fill);
  p.writeUInt32BE(bodyBytes, 0);
  return p;
}

test('connection bytes - WebSocket: packet bytes in and out, a prepared frame counted by its payload', async (t) => {
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024, maxHandshakePerIp: 0 });
  const h = new Echo();
  const { port } = await transport.listen(h);
  t.after(() => transport.close());
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await once(ws, 'open');
  let received = 0;
  const firstBytes: number[] = [];
  ws.on('message', (d: Buffer) => {
    received += d.length;
    firstBytes.push(d[0] ?? -1);
  });
  // frames of several sizes (a 7-bit and two 16-bit WebSocket lengths) arrive whole and in order
  ws.send(Buffer.alloc(100, 1));
  ws.send(Buffer.alloc(20_000, 2));
  ws.send(Buffer.alloc(4900, 3));
  await until(() => received === 25_000, 'three echoes');
  assert.deepEqual(firstBytes, [1, 2, 3]);
  const c = h.conn as Connection;
  assert.equal(c.bytesIn, 25_000);
  assert.equal(c.bytesOut, 25_000);
  assert.equal(c.send(new PreparedFrame(new Uint8Array(300))), 'sent');
  await until(() => received === 25_300, 'the prepared frame');
  assert.equal(c.bytesOut, 25_300, 'the payload, not the WebSocket header');
  assert.equal(c.bytesIn, 25_000);
});

test('connection bytes - TCP: packet bytes in and out; a prepared frame arrives as the packet itself', async (t) => {
  const transport = new TcpTransport({ host: '127.0.0.1', port: 0, maxFrameBytes: 64 * 1024, byteOrder: 'big' });
  const h = new Echo();
  const { port } = await transport.listen(h);
  t.after(() => transport.close());
  const s: Socket = netConnect(port, '127.0.0.1');
  s.on('error', () => {});
  t.after(() => s.destroy());
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  let received = 0;
  s.on('data', (d: Buffer) => {
    chunks.push(d);
    received += d.length;
  });
  s.write(tcpPacket(96, 1));
  s.write(tcpPacket(4996, 2));
  await until(() => received === 5100, 'both echoes');
  const c = h.conn as Connection;
  assert.equal(c.bytesIn, 5100);
  assert.equal(c.bytesOut, 5100);
  const fanout = tcpPacket(296, 7);
  assert.equal(c.send(new PreparedFrame(fanout)), 'sent');
  await until(() => received === 5400, 'the prepared frame');
  assert.deepEqual(Buffer.concat(chunks).subarray(5100), fanout, 'the packet bytes, no WebSocket header');
  assert.equal(c.bytesOut, 5400);
});
