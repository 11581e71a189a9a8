// Issue 20 case 2: sockets before the WebSocket upgrade are bounded (gate-wide and per IP), counted, logged
// (rate-limited) and closed within handshakeTimeout, slowloris included. Real sockets on loopback.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { createTransport, packetCodec } from '../../src/compose.js';
import { loadConfig } from '../../src/config/index.js';
import type { Log, LogFields } from '../../src/log/types.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { RefusalReason } from '../../src/network/admission.js';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport, type WsTransport, type WsTransportOptions } from '../../src/network/ws-transport.js';

type TestContext = { after: (fn: () => unknown) => void };
type Silent = {
  socket: Socket;
  data: Buffer[];
  closed: () => boolean;
  connectedAt: number;
  closedAt: number | undefined;
};

class Recorder implements ConnectionHandler {
  readonly opened: Connection[] = [];
  open(c: Connection): void {
    this.opened.push(c);
  }
  frame(): void {}
  closed(): void {}
}

function recordingLog(): Log & { lines: Array<{ msg: string; fields: LogFields }> } {
  const lines: Array<{ msg: string; fields: LogFields }> = [];
  const log: Log & { lines: typeof lines } = {
    lines,
    debug: () => {},
    info: () => {},
    warn: (msg, fields = {}) => void lines.push({ msg, fields }),
    error: (msg, fields = {}) => void lines.push({ msg, fields }),
    child: () => log,
  };
  return log;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function start(t: TestContext, opts: Partial<WsTransportOptions> = {}) {
  const log = recordingLog();
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024, log, ...opts });
  const rec = new Recorder();
  const { port } = await transport.listen(rec);
  t.after(() => transport.close());
  return { transport, rec, port, log, url: `ws://127.0.0.1:${port}/` };
}

/** A raw TCP socket that says nothing; resolves once connected. Tracks when the server closes it. */
async function silent(t: TestContext, port: number, localAddress = '127.0.0.1'): Promise<Silent> {
  const socket = tcpConnect({ host: '127.0.0.1', port, localAddress });
  const out: Silent = {
    socket,
    data: [],
    closed: () => out.closedAt !== undefined,
    connectedAt: 0,
    closedAt: undefined,
  };
  socket.on('data', (d) => out.data.push(d));
  socket.on('error', () => {});
  socket.on('close', () => {
    out.closedAt = Date.now();
  });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  out.connectedAt = Date.now();
  return out;
}

/** Resolves with the HTTP status of a WebSocket upgrade attempt (101 when it opened). */
function upgradeStatus(t: TestContext, url: string, localAddress = '127.0.0.1'): Promise<number> {
  const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
  t.after(() => ws.terminate());
  return new Promise((resolve) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
}

test('handshake guard - 300 silent sockets are closed within handshakeTimeout, counted, logged once, and clients connect meanwhile', async (t) => {
  const timeoutMs = 2000;
  const { transport, port, url, log } = await start(t, { handshakeTimeoutMs: timeoutMs, maxHandshakePerIp: 0 });
  const sockets = await Promise.all(Array.from({ length: 300 }, () => silent(t, port)));
  await until(() => transport.stats.pending === 300, '300 pending sockets', 10_000);
  assert.equal(await upgradeStatus(t, url), 101, 'a real client still upgrades while 300 sockets sit silent');
  await until(() => sockets.every((s) => s.closed()), 'every silent socket closed by the gate', 15_000);
  for (const s of sockets) {
    const lifeMs = (s.closedAt as number) - s.connectedAt;
    // not before the deadline; after it by at most one sweep period (a tenth) plus room for a loaded machine
    assert.ok(lifeMs >= timeoutMs - 50 && lifeMs < timeoutMs + 3000, `socket lived ${lifeMs} ms`);
  }
  assert.equal(transport.stats.pending, 0);
  assert.equal(transport.stats.refused[RefusalReason.HANDSHAKE_TIMEOUT], 300);
  assert.equal(transport.stats.connections, 1, 'the upgraded client is not reaped');
  const lines = log.lines.filter((l) => l.fields.reason === RefusalReason.HANDSHAKE_TIMEOUT);
  assert.ok(lines.length >= 1 && lines.length < 5, `rate-limited: ${lines.length} lines for 300 reaps`);
  assert.equal(lines[0]?.msg, 'connection refused');
  await transport.close();
  // the lines left out are summed up in a summary line (here at close, otherwise when the interval ends)
  const all = log.lines.filter((l) => l.fields.reason === RefusalReason.HANDSHAKE_TIMEOUT);
  const counted = all.reduce((n, l) => n + (l.msg === 'connections refused' ? Number(l.fields.count) : 1), 0);
  assert.equal(counted, 300, JSON.stringify(all));
});

test('handshake guard - slowloris (one header byte at a time) is closed within handshakeTimeout, never upgraded', async (t) => {
  const timeoutMs = 500;
  const { transport, rec, port } = await start(t, { handshakeTimeoutMs: timeoutMs, maxHandshakePerIp: 0 });
  const request = `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${'a'.repeat(22)}==\r\nX-Pad: ${'p'.repeat(200)}\r\n\r\n`;
  const sockets: Silent[] = [];
  for (let i = 0; i < 100; i++) sockets.push(await silent(t, port));
  const started = Date.now();
  let offset = 0;
  const drip = setInterval(() => {
    for (const s of sockets) if (!s.closed()) s.socket.write(request[offset % request.length] as string);
    offset++;
  }, 20);
  t.after(() => clearInterval(drip));
  await until(() => sockets.every((s) => s.closed()), 'every slowloris socket closed');
  clearInterval(drip);
  const tookMs = Date.now() - started;
  assert.ok(offset < request.length, `closed before the request completed (${offset} of ${request.length} bytes)`);
  assert.ok(tookMs < timeoutMs + 3000, `closed after ${tookMs} ms`);
  assert.equal(rec.opened.length, 0);
  assert.equal(transport.stats.refused[RefusalReason.HANDSHAKE_TIMEOUT], 100);
});

test('handshake guard - over maxHandshakeNum sockets are refused 503 at once; over maxHandshakePerIp 429; other IPs still served', async (t) => {
  const { transport, port, url, log } = await start(t, {
    handshakeTimeoutMs: 60_000,
    maxHandshakeNum: 60,
    maxHandshakePerIp: 40,
  });
  const fromTwo: Silent[] = [];
  for (let i = 0; i < 45; i++) fromTwo.push(await silent(t, port, '127.0.0.2'));
  await until(() => fromTwo.filter((s) => s.closed()).length === 5, '5 refused per IP');
  const refusedPerIp = fromTwo.filter((s) => s.closed());
  for (const s of refusedPerIp) assert.match(Buffer.concat(s.data).toString(), /^HTTP\/1\.1 429 /);
  assert.equal(transport.stats.pending, 40);
  assert.equal(await upgradeStatus(t, url, '127.0.0.2'), 429, 'that IP cannot even upgrade now');
  assert.equal(await upgradeStatus(t, url, '127.0.0.3'), 101, 'another IP can');

  const fromThree: Silent[] = [];
  for (let i = 0; i < 30; i++) fromThree.push(await silent(t, port, '127.0.0.3'));
  await until(() => fromThree.filter((s) => s.closed()).length === 10, '10 refused gate-wide');
  for (const s of fromThree.filter((x) => x.closed()))
    assert.match(Buffer.concat(s.data).toString(), /^HTTP\/1\.1 503 /);
  assert.equal(transport.stats.pending, 60);
  assert.equal(transport.stats.refused[RefusalReason.MAX_HANDSHAKE_PER_IP], 6);
  assert.equal(transport.stats.refused[RefusalReason.MAX_HANDSHAKE], 10);
  const reasons = log.lines.map((l) => l.fields.reason);
  assert.equal(reasons.filter((r) => r === RefusalReason.MAX_HANDSHAKE).length, 1, 'one line per reason per interval');
  assert.equal(reasons.filter((r) => r === RefusalReason.MAX_HANDSHAKE_PER_IP).length, 1);
  assert.deepEqual(log.lines.find((l) => l.fields.reason === RefusalReason.MAX_HANDSHAKE)?.fields, {
    reason: RefusalReason.MAX_HANDSHAKE,
    ip: '127.0.0.3',
    status: 503,
  });
  // freeing slots lets new sockets in again
  for (const s of fromTwo) s.socket.destroy();
  await until(() => transport.stats.pending === 20, 'slots freed when sockets close');
  assert.equal(await upgradeStatus(t, url, '127.0.0.2'), 101);
});

test('handshake guard - the config keys reach the transport through compose, and metrics count the refusals', async (t) => {
  const { config } = loadConfig({
    role: 'gate',
    env: {},
    argv: [
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'network.ws.server.handshakeTimeout="1500ms"',
      '--set',
      'network.ws.server.maxHandshakeNum=5',
      '--set',
      'network.ws.server.maxHandshakePerIp=3',
    ],
  });
  const transport = createTransport(config, packetCodec(config), { log: recordingLog() }) as WsTransport;
  const { port } = await transport.listen(new Recorder());
  t.after(() => transport.close());
  const metrics = new Metrics();
  t.after(() => metrics.close());
  metrics.watchGate({ counters: emptyCounters, connections: () => 0, transport: () => transport.stats });
  const sockets: Silent[] = [];
  for (let i = 0; i < 4; i++) sockets.push(await silent(t, port));
  for (let i = 0; i < 3; i++) sockets.push(await silent(t, port, '127.0.0.2'));
  await until(() => sockets.every((s) => s.closed()), 'all closed: 1 per IP refused, 1 gate-wide, 5 reaped');
  const text = await metrics.scrape();
  assert.match(text, /duet_connections_refused_total\{reason="too-many-handshakes-per-ip"\} 1/);
  assert.match(text, /duet_connections_refused_total\{reason="too-many-handshakes"\} 1/);
  assert.match(text, /duet_connections_refused_total\{reason="handshake-timeout"\} 5/);
  assert.match(text, /duet_connections_pending 0/);
});

const emptyCounters = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, drops: {}, malformed: {} };

test('handshake guard - under TLS an upgraded wss connection outlives handshakeTimeout; a silent TLS socket does not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'duet-tls-guard-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const subj = ['-subj', '/CN=localhost', '-days', '1', '-keyout', keyFile, '-out', certFile];
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', ...subj]);
  const timeoutMs = 300;
  const { transport, port, rec } = await start(t, { tls: { keyFile, certFile }, handshakeTimeoutMs: timeoutMs });
  const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await once(ws, 'open');
  const quiet = await silent(t, port);
  await until(() => quiet.closed(), 'the silent socket closed');
  await new Promise((r) => setTimeout(r, timeoutMs * 3));
  assert.equal(ws.readyState, WebSocket.OPEN, 'the upgraded connection was released from the guard');
  assert.equal(rec.opened.length, 1);
  assert.equal(transport.stats.pending, 0);
  assert.equal(transport.stats.refused[RefusalReason.HANDSHAKE_TIMEOUT], 1);
});
