// Issue 20 case 8: the transport, not ws, answers a peer's FIN (src/network/peer-end.ts): the socket is destroyed
// from the close queue in time slices. These tests pin the ws behaviour the takeover relies on and show that a FIN
// still ends each connection exactly once, with 1006, and that a half-closing raw client gets our FIN back.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { type EndListener, endListenersAddedSince, takeOverPeerEnd } from '../../src/network/peer-end.js';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { until } from '../harness/embedded.js';

test('peer end - the installed ws registers exactly one end listener at upgrade, and it can be taken over', async (t) => {
  const wss = new WebSocketServer({ noServer: true, clientTracking: false });
  const server = createServer();
  const seen: Array<{ added: number; took: boolean; left: number }> = [];
  server.on('upgrade', (req, socket: Duplex, head) => {
    const before = socket.listenerCount('end');
    wss.handleUpgrade(req, socket, head, () => {
      const added = endListenersAddedSince(socket, before);
      const mine = function (this: Duplex): void {};
      const took = takeOverPeerEnd(socket, added, mine);
      seen.push({
        added: added.length,
        took,
        left: socket.listeners('end').filter((l) => added.includes(l as EndListener)).length,
      });
      socket.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as { port: number };
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  ws.on('error', () => {});
  await once(ws, 'close');
  assert.deepEqual(seen, [{ added: 1, took: true, left: 0 }], 'a ws release that changes this must fail here');
});

test('peer end - takeOverPeerEnd leaves the listeners alone unless exactly one was added', () => {
  const fake = {
    listeners: () => [],
    off: () => assert.fail('must not remove'),
    on: () => assert.fail('must not add'),
  };
  const a = function (this: Duplex): void {};
  const b = function (this: Duplex): void {};
  assert.equal(takeOverPeerEnd(fake as unknown as Duplex, [a, b], a), false);
  assert.equal(takeOverPeerEnd(fake as unknown as Duplex, [], a), false);
});

class Ends implements ConnectionHandler {
  readonly codes = new Map<number, number[]>();
  open(): void {}
  frame(c: Connection, bytes: Uint8Array): void {
    c.send(bytes.slice(), 'response');
  }
  closed(c: Connection, code: number): void {
    this.codes.set(c.cid, [...(this.codes.get(c.cid) ?? []), code]);
  }
}

test('peer end - 200 FINs at once: each connection ends once with 1006, nothing reported, no socket left', async (t) => {
  const errors: string[] = [];
  const transport = createWsTransport({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 1024,
    maxHandshakePerIp: 0,
    reportError: (err, where) => errors.push(`${where}: ${String(err)}`),
  });
  const rec = new Ends();
  const { port } = await transport.listen(rec);
  t.after(() => transport.close());
  const clients: WebSocket[] = [];
  for (let i = 0; i < 200; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    ws.on('error', () => {});
    await once(ws, 'open');
    clients.push(ws);
  }
  await until(() => transport.stats.connections === 200, '200 connections', 10_000);
  for (const ws of clients) ws.terminate(); // a FIN each, no close frame
  await until(() => rec.codes.size === 200, '200 closes', 10_000);
  assert.ok(
    [...rec.codes.values()].every((c) => c.length === 1 && c[0] === 1006),
    'one 1006 close each',
  );
  assert.equal(transport.stats.connections, 0);
  assert.deepEqual(errors, []);
});

test('peer end - a raw client that half-closes gets the server FIN back and the connection ends', async (t) => {
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 1024 });
  const rec = new Ends();
  const { port } = await transport.listen(rec);
  t.after(() => transport.close());
  const sock = tcpConnect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  sock.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let head = '';
  sock.on('data', (d: Buffer) => {
    head += d.toString('latin1');
  });
  await until(() => head.includes('\r\n\r\n'), 'the 101 answer', 10_000);
  assert.match(head, /^HTTP\/1\.1 101/);
  await until(() => transport.stats.connections === 1, 'one connection', 10_000);
  sock.end(); // our FIN; the socket stays readable
  await Promise.race([
    once(sock, 'end'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('no FIN from the server')), 5000)),
  ]);
  await until(() => rec.codes.size === 1, 'closed', 10_000);
  assert.deepEqual([...rec.codes.values()], [[1006]]);
});
