/**
 * The raw per-message pass-through baseline (issue 9, "a minimal hand-written ws → NATS → responder → ws"): every
 * WebSocket message is one NATS publish to the responder, prefixed with its connection id; every reply arrives on
 * this process's one reply subject and is written to the socket it names. No batching, no decoding.
 * argv: <nats url> <subject prefix>. Prints `passthrough listening on ws://127.0.0.1:<port>/`.
 */
import { connect } from '@nats-io/transport-node';
import { WebSocket, WebSocketServer } from 'ws';

const [natsUrl = 'nats://127.0.0.1:4222', prefix = 'pt'] = process.argv.slice(2);
const nc = await connect({ servers: [natsUrl], name: 'bench-passthrough-gate' });
const reqSubject = `${prefix}.req`;
const replySubject = `${prefix}.rep.${process.pid}`;
const sockets = new Map<number, WebSocket>();
let nextCid = 0;

nc.subscribe(replySubject, {
  callback: (err, msg) => {
    if (err) return;
    const d = msg.data;
    const cid = ((d[0] as number) << 24) | ((d[1] as number) << 16) | ((d[2] as number) << 8) | (d[3] as number);
    const ws = sockets.get(cid >>> 0);
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(d.subarray(4));
  },
});
await nc.flush();

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
wss.on('connection', (ws) => {
  const cid = ++nextCid >>> 0;
  sockets.set(cid, ws);
  ws.on('message', (data: Buffer) => {
    const out = Buffer.allocUnsafe(4 + data.length);
    out.writeUInt32BE(cid, 0);
    data.copy(out, 4);
    nc.publish(reqSubject, out, { reply: replySubject });
  });
  ws.on('close', () => sockets.delete(cid));
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  const a = wss.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  console.log(`passthrough listening on ws://127.0.0.1:${port}/`);
});
process.on('SIGTERM', () => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  void nc.drain().finally(() => process.exit(0));
});
