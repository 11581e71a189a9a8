/**
 * Micro-benchmark behind the broadcast proposal (not run by `npm run bench`): the server-side cost of fanning one
 * 41-byte due packet out to 5,000 local WebSocket clients, `K` times in one turn, three ways:
 *   wsSend          ws.send(packet) per socket per push (what the gate does today)
 *   prepared        the ws frame (header + packet) built once, written raw to each socket
 *   preparedCorked  the same, with every socket corked for the turn: one write syscall per socket, not per push
 * `node --import tsx test/bench/micro-fanout.ts [K=20]`
 */
import type { Socket } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { epochNow, LoadGroup } from './lib/load.js';
import { duetRequest } from './lib/wire.js';

const N = 5000;
const K = Number(process.argv[2] ?? 20);
const PUSHED_ROUTE = 21;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise((r) => wss.on('listening', r));
const port = (wss.address() as { port: number }).port;
const sockets: WebSocket[] = [];
wss.on('connection', (ws) => sockets.push(ws));
const group = await LoadGroup.open(
  { url: `ws://127.0.0.1:${port}/`, protocol: 'duet', mode: 'broadcast', bodyBytes: 0, route: 1, pushRoute: 21 },
  N,
  1,
);
const packet = duetRequest(PUSHED_ROUTE, 0, Buffer.alloc(32, 0x62));
// Server frames are unmasked: FIN + binary opcode, then the 7-bit length (the packet is under 126 bytes).
const frame = Buffer.concat([Buffer.from([0x82, packet.length]), packet]);
// ws keeps the net.Socket under a private field; a gate implementation would hold its own reference.
const raw = (ws: WebSocket): Socket => (ws as unknown as { _socket: Socket })._socket;

const methods: Record<string, () => void> = {
  wsSend: () => {
    for (let k = 0; k < K; k++) for (const ws of sockets) ws.send(packet, { binary: true });
  },
  prepared: () => {
    for (let k = 0; k < K; k++) for (const ws of sockets) raw(ws).write(frame);
  },
  preparedCorked: () => {
    for (const ws of sockets) raw(ws).cork();
    for (let k = 0; k < K; k++) for (const ws of sockets) raw(ws).write(frame);
    for (const ws of sockets) raw(ws).uncork();
  },
};

for (let rep = 0; rep < 2; rep++) {
  for (const [name, fan] of Object.entries(methods)) {
    const start = (await group.count()).pushes;
    const cpu0 = process.cpuUsage();
    const t0 = epochNow();
    fan();
    let c = await group.count();
    while (c.pushes < start + N * K) {
      await new Promise((r) => setTimeout(r, 20));
      c = await group.count();
    }
    const cpu = process.cpuUsage(cpu0);
    const rate = (N * K) / ((c.lastPushEpoch - t0) / 1000);
    const us = (cpu.user + cpu.system) / (N * K);
    console.log(`${name.padEnd(15)} K=${K}: ${Math.round(rate)} delivered msgs/s, ${us.toFixed(2)} server CPU µs/msg`);
  }
}
await group.close();
wss.close();
process.exit(0);
