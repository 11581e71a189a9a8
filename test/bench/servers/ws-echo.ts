/**
 * The bare `ws` echo server baseline: every binary message is sent back as is. Same library and options the gate
 * uses for its sockets (no compression), nothing else. Prints `ws-echo listening on ws://127.0.0.1:<port>/`.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
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
