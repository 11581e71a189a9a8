/**
 * The bare `ws` echo server baseline: every binary message is sent back as is. Same library and options the gate
 * uses for its sockets (no compression), nothing else. Prints `ws-echo listening on ws://127.0.0.1:<port>/`.
 * Fan-out baseline: a due packet on route 20 (bench-app's BROADCAST: u32 count + payload) is not echoed; instead
 * `count` pushes (route 21, seq 0) go to every client with one ws.send each, as a gate without framing tricks would.
 * With the argument `prepared` (system `ws-prepared`), the push is framed once and the same bytes are written to
 * every raw socket, each corked for the burst: the best a server on ws can do, the fan-out ceiling.
 */
import type { Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { duetRequest } from '../lib/wire.js';

const isPrepared = process.argv[2] === 'prepared';
/** ws keeps the net.Socket under a private field; the gate holds its own reference instead. */
const raw = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

function fanOut(clients: Set<WebSocket>, push: Buffer, count: number): void {
  if (!isPrepared) {
    for (let i = 0; i < count; i++) for (const c of clients) c.send(push, { binary: true });
    return;
  }
  // Server frames are unmasked: FIN + binary opcode, then the 7-bit length (pushes here are under 126 bytes).
  const frame = Buffer.concat([Buffer.from([0x82, push.length]), push]);
  for (const c of clients) raw(c).cork();
  for (let i = 0; i < count; i++) for (const c of clients) raw(c).write(frame);
  for (const c of clients) raw(c).uncork();
}

const BROADCAST_ROUTE = 20;
const PUSHED_ROUTE = 21;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (data.length >= 13 && data.readInt16BE(5) === BROADCAST_ROUTE) {
      const count = data.readUInt32BE(9);
      fanOut(wss.clients, duetRequest(PUSHED_ROUTE, 0, data.subarray(13)), count);
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  const a = wss.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  console.log(`ws-echo listening on ws://127.0.0.1:${port}/`);
});
process.on('SIGTERM', () => {
  for (const c of wss.clients) c.terminate();
  wss.close(() => process.exit(0));
});
