// The TCP listener beside WebSocket on one gate (issue 18): due's packets as a stream delimited by the size
// prefix, split and coalesced reads, both heartbeat mechanisms, and every WebSocket limit (body size, malformed
// budget, rate limit, slow consumer, maxConnNum, drain), plain and TLS, and the Client over TCP.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Client } from '../../src/client/index.js';
import { tcpSocket } from '../../src/client/tcp.js';
import { createTransport } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { CloseCode, ConfigError } from '../../src/errors.js';
import type { HeartbeatMechanism } from '../../src/gate/frames.js';
import { Gate } from '../../src/gate/gate.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { CompositeTransport } from '../../src/network/composite-transport.js';
import { TCP_FIRST_CID } from '../../src/network/tcp-options.js';
import { TcpTransport } from '../../src/network/tcp-transport.js';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import type { PacketOptions } from '../../src/packet/options.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { until } from '../harness/embedded.js';
import { freePorts } from '../harness/free-port.js';
import { makeTestCerts } from '../harness/redis.js';
import { TcpTestClient } from '../harness/tcp-client.js';
import { connect as wsConnect } from '../harness/ws-client.js';

interface Opts {
  heartbeatIntervalMs: number;
  heartbeatMechanism: HeartbeatMechanism;
  malformedBudget: number;
  rateLimit: number;
  maxConnNum: number;
  packet: Partial<PacketOptions>;
  tls: { keyFile: string; certFile: string };
}

async function startGate(t: TestContext, o: Partial<Opts> = {}) {
  const failures: string[] = [];
  const report = (err: unknown, context: string): void => {
    failures.push(`${context}: ${err instanceof Error ? err.stack : String(err)}`);
  };
  const bus = new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  const codec = new PacketCodec(o.packet);
  const ws = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: codec.maxFrameBytes, reportError: report });
  const tcp = new TcpTransport({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: codec.maxFrameBytes,
    byteOrder: codec.options.byteOrder,
    maxConnNum: o.maxConnNum,
    tls: o.tls,
    firstCid: TCP_FIRST_CID,
    reportError: report,
  });
  const node = new Node({ name: 'game', bus, locator, registry, codec, reportError: report });
  registerDiagnostics(node);
  await node.start();
  const gate = new Gate({
    bus,
    locator,
    registry,
    transport: new CompositeTransport([ws, tcp]),
    codec,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? 0,
    heartbeatMechanism: o.heartbeatMechanism,
    malformedBudget: o.malformedBudget,
    rateLimit: o.rateLimit,
    reportError: report,
  });
  await gate.start();
  t.after(async () => {
    await gate.stop({ graceful: false });
    await node.stop();
    await bus.drain();
    await locator[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  });
  const port = tcp.address?.port ?? 0;
  const client = async (opts: { tls?: { ca: Buffer } } = {}): Promise<TcpTestClient> => {
    const c = await TcpTestClient.connect(port, { codec, ...opts });
    t.after(() => c[Symbol.asyncDispose]());
    return c;
  };
  return { gate, tcp, ws, codec, port, failures, client, wsUrl: `ws://127.0.0.1:${gate.address?.port}/` };
}

test('tcp - a packet split into single bytes, and three packets in one write, are all answered in order', async (t) => {
  const g = await startGate(t);
  const c = await g.client();
  const one = c.data(1, 1, 'split across reads');
  for (const b of one) {
    c.write(Uint8Array.of(b));
    await new Promise((r) => setImmediate(r));
  }
  await c.until((r) => r.length === 1, 5000, 'the split echo');
  const joined = Buffer.concat([c.data(1, 2, 'a'), c.data(1, 3, 'bb'), c.data(1, 4, 'ccc')]);
  // The first packet and half of the second in one write, the rest in another.
  c.write(joined.subarray(0, 14));
  c.write(joined.subarray(14));
  await c.until((r) => r.length === 4, 5000, 'three coalesced echoes');
  assert.deepEqual(c.texts(), ['split across reads', 'a', 'bb', 'ccc']);
  const seqs = c.received.map((r) => (r.ok && r.packet.kind === 'data' ? r.packet.seq : -1));
  assert.deepEqual(seqs, [1, 2, 3, 4]);
  assert.deepEqual(g.failures, []);
});

test('tcp - WebSocket and TCP clients on one gate, with distinct connection ids', async (t) => {
  const g = await startGate(t);
  const tcp = await g.client();
  const ws = await wsConnect(g.wsUrl);
  t.after(() => ws[Symbol.asyncDispose]());
  tcp.write(tcp.data(1, 1, 'over tcp'));
  const r = await ws.request(1, 'over ws');
  assert.equal(r.text, 'over ws');
  await tcp.until((x) => x.length === 1, 5000, 'tcp echo');
  assert.deepEqual(tcp.texts(), ['over tcp']);
  assert.equal(g.gate.sessions.size, 2);
  assert.equal(g.tcp.stats.connections, 1);
});

test('tcp - heartbeats: resp answers each one, tick sends them unasked, a silent client is closed', async (t) => {
  const resp = await startGate(t, { heartbeatIntervalMs: 200, heartbeatMechanism: 'resp' });
  const a = await resp.client();
  a.write(a.codec.encodeHeartbeat());
  await a.until((r) => r.length === 1, 5000, 'heartbeat answer');
  assert.equal(a.heartbeats(), 1);
  // Nothing more is sent: the silent client is closed after 2-3 intervals.
  await a.waitClosed(5000);

  const tick = await startGate(t, { heartbeatIntervalMs: 150, heartbeatMechanism: 'tick' });
  const b = await tick.client();
  const timer = setInterval(() => b.write(b.codec.encodeHeartbeat()), 100);
  t.after(() => clearInterval(timer));
  await b.until(() => b.heartbeats() >= 3, 5000, 'three tick heartbeats');
  assert.ok(!b.isClosed, 'a client that keeps sending stays open');
});

test('tcp - a size prefix over the packet limit closes the connection without reading the body', async (t) => {
  const g = await startGate(t, { packet: { bufferBytes: 100 } });
  const c = await g.client();
  const head = Buffer.alloc(5);
  head.writeUInt32BE(10_000, 0);
  c.write(head);
  await c.waitClosed(5000);
  const ok = await g.client();
  ok.write(ok.data(1, 1, 'still served'));
  await ok.until((r) => r.length === 1, 5000, 'echo after the oversized client');
});

test('tcp - little-endian size prefixes frame the stream when packet.byteOrder is little', async (t) => {
  const g = await startGate(t, { packet: { byteOrder: 'little' } });
  const c = await g.client();
  c.write(Buffer.concat([c.data(1, 1, 'le-1'), c.data(1, 2, 'le-2')]));
  await c.until((r) => r.length === 2, 5000, 'two little-endian echoes');
  assert.deepEqual(c.texts(), ['le-1', 'le-2']);
});

test('tcp - malformed budget and rate limit close a TCP client as they close a WebSocket one', async (t) => {
  const g = await startGate(t, { malformedBudget: 3 });
  const c = await g.client();
  // A data packet of size 1 (header only): too short for route and seq, malformed.
  for (let i = 0; i < 5; i++) c.write(Uint8Array.of(0, 0, 0, 1, 0));
  await c.waitClosed(5000);
  assert.ok(g.gate.counters.malformed.short > 3);

  const r = await startGate(t, { rateLimit: 20 });
  const flood = await r.client();
  flood.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => flood.data(1, i + 1, 'x'))));
  await flood.waitClosed(5000);
  assert.ok(r.gate.counters.rateLimited > 0);
});

test('tcp - maxConnNum: the connection over it is closed at accept; draining closes new ones too', async (t) => {
  const g = await startGate(t, { maxConnNum: 2 });
  const a = await g.client();
  await g.client();
  await until(() => g.tcp.stats.connections === 2, 'two connections');
  const third = await g.client();
  await third.waitClosed(5000);
  assert.equal(g.tcp.stats.refused['too-many-connections'], 1);
  a.write(a.data(1, 1, 'first still served'));
  await a.until((r) => r.length === 1, 5000, 'echo on an admitted connection');
  g.tcp.refuseNew();
  await a[Symbol.asyncDispose]();
  const late = await g.client();
  await late.waitClosed(5000);
  assert.equal(g.tcp.stats.refused.closing, 1);
});

test('tcp - TLS: a client trusting the CA is served', async (t) => {
  const certs = await makeTestCerts();
  t.after(() => certs[Symbol.asyncDispose]());
  const g = await startGate(t, { tls: { keyFile: certs.keyFile, certFile: certs.certFile } });
  assert.equal(g.tcp.isTls, true);
  const c = await g.client({ tls: { ca: readFileSync(certs.caFile) } });
  c.write(Buffer.concat([c.data(1, 1, 'secure'), c.data(1, 2, 'twice')]));
  await c.until((r) => r.length === 2, 5000, 'echoes over TLS');
  assert.deepEqual(c.texts(), ['secure', 'twice']);
});

test('tcp - a client that stops reading is closed as a slow consumer and counted', async (t) => {
  let conn: Connection | undefined;
  const closes: number[] = [];
  const handler: ConnectionHandler = {
    open: (c) => {
      conn = c;
    },
    frame: () => {},
    closed: (_c, code) => closes.push(code),
  };
  const tcp = new TcpTransport({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 1 << 16,
    byteOrder: 'big',
    writeQueue: { maxMessages: 64, maxBytes: 1 << 20 },
  });
  t.after(() => tcp.close());
  const { port } = await tcp.listen(handler);
  const c = await TcpTestClient.connect(port);
  t.after(() => c[Symbol.asyncDispose]());
  c.socket.pause();
  await until(() => conn !== undefined, 'the connection');
  const frame = new Uint8Array(60_000);
  new DataView(frame.buffer).setUint32(0, frame.length - 4);
  let result = 'sent';
  for (let i = 0; i < 10_000 && result !== 'overflow'; i++) result = conn?.send(frame) ?? 'closed';
  assert.equal(result, 'overflow');
  await until(() => closes.length === 1, 'the close');
  assert.deepEqual(closes, [CloseCode.SLOW_CONSUMER]);
  assert.equal(tcp.stats.slowConsumers, 1);
});

test('tcp - the Client runs over TCP with the same API (requests, heartbeats, close)', async (t) => {
  const g = await startGate(t, { heartbeatIntervalMs: 500 });
  const client = new Client({
    url: `tcp://127.0.0.1:${g.port}`,
    WebSocket: tcpSocket(),
    heartbeat: { intervalMs: 200 },
  });
  t.after(() => client.close());
  await client.connect();
  const reply = await client.request(1, new TextEncoder().encode('client over tcp'));
  assert.equal(new TextDecoder().decode(reply.body), 'client over tcp');
  const many = await Promise.all(
    Array.from({ length: 50 }, (_, i) => client.request(1, new TextEncoder().encode(`m${i}`))),
  );
  assert.deepEqual(
    many.map((r) => new TextDecoder().decode(r.body)),
    Array.from({ length: 50 }, (_, i) => `m${i}`),
  );
  // Past two gate heartbeat intervals: the client's heartbeats kept the session alive.
  await new Promise((r) => setTimeout(r, 1200));
  const again = await client.request(1, new TextEncoder().encode('still open'));
  assert.equal(new TextDecoder().decode(again.body), 'still open');
  await client.close();
  await until(() => g.tcp.stats.connections === 0, 'the gate saw the close');
});

test('tcp - network.tcp.server.addr turns the listener on beside WebSocket; heartbeat keys must agree', async (t) => {
  const base = loadConfig({ role: 'gate', env: {}, cwd: process.cwd() }).config;
  const codec = new PacketCodec();
  const none = createTransport(base, codec);
  assert.ok(!(none instanceof CompositeTransport), 'no TCP listener when addr is empty (the default)');
  await none.close();
  const ports = await freePorts(2);
  const config = loadConfig({
    role: 'gate',
    env: {},
    cwd: process.cwd(),
    argv: [
      '--set',
      `network.ws.server.addr="127.0.0.1:${ports[0]}"`,
      '--set',
      `network.tcp.server.addr="127.0.0.1:${ports[1]}"`,
    ],
  }).config;
  const both = createTransport(config, codec);
  t.after(() => both.close());
  assert.ok(both instanceof CompositeTransport);
  const opened: number[] = [];
  await both.listen({ open: (c) => opened.push(c.cid), frame: () => {}, closed: () => {} });
  const c = await TcpTestClient.connect(ports[1] ?? 0);
  t.after(() => c[Symbol.asyncDispose]());
  await until(() => opened.length === 1, 'the TCP connection');
  assert.equal(opened[0], TCP_FIRST_CID);
  const clash = loadConfig({
    role: 'gate',
    env: {},
    cwd: process.cwd(),
    argv: ['--set', 'network.tcp.server.addr=":3553"'],
  }).config;
  assert.throws(() => createTransport(clash, codec), /share a port: give one another/);
  const bad = loadConfig({
    role: 'gate',
    env: {},
    cwd: process.cwd(),
    argv: ['--set', 'network.tcp.server.addr="127.0.0.1:0"', '--set', 'network.tcp.server.heartbeatInterval="5s"'],
  }).config;
  assert.throws(
    () => createTransport(bad, codec),
    (e: unknown) => e instanceof ConfigError && /heartbeatInterval .* must equal network\.ws\.server/.test(e.message),
  );
});
