import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { type Embedded, type EmbeddedOptions, startEmbedded, until } from '../harness/embedded.js';
import { type Refused, WsTestClient } from '../harness/ws-client.js';

/** Admission before a session exists (docs/protocol.md, Transport), through a whole gate, and the authorize deadline. */

type TestContext = { after: (fn: () => unknown) => void };

const ECHO = 1;
const LOGIN = 2;
const LOGOUT = 4;

async function embedded(t: TestContext, o: Partial<EmbeddedOptions> = {}): Promise<Embedded> {
  const e = await startEmbedded({ heartbeatIntervalMs: 0, ...o });
  t.after(() => e[Symbol.asyncDispose]());
  return e;
}

/** Connects; on success registers cleanup and resolves the client, on refusal resolves the HTTP answer. */
async function attempt(
  t: TestContext,
  url: string,
  opts: Parameters<typeof WsTestClient.tryConnect>[1] = {},
): Promise<WsTestClient | Refused> {
  const r = await WsTestClient.tryConnect(url, opts);
  if (r instanceof WsTestClient) t.after(() => r[Symbol.asyncDispose]());
  return r;
}

async function admitted(t: TestContext, url: string, opts: Parameters<typeof WsTestClient.tryConnect>[1] = {}) {
  const r = await attempt(t, url, opts);
  assert.ok(r instanceof WsTestClient, `expected an upgrade, got ${JSON.stringify(r)}`);
  return r;
}

async function refused(t: TestContext, url: string, opts: Parameters<typeof WsTestClient.tryConnect>[1] = {}) {
  const r = await attempt(t, url, opts);
  assert.ok(!(r instanceof WsTestClient), `expected a refusal from ${url} (${JSON.stringify(opts)})`);
  return r;
}

test('gate admission - default origins admit any Origin and none', async (t) => {
  const e = await embedded(t);
  const a = await admitted(t, e.url);
  const b = await admitted(t, e.url, { origin: 'https://anything.example' });
  assert.equal((await a.request(ECHO, 'a')).text, 'a');
  assert.equal((await b.request(ECHO, 'b')).text, 'b');
});

test('gate admission - origins is an exact match; anything else is 403 before the upgrade', async (t) => {
  const e = await embedded(t, { origins: ['https://a.example', 'http://localhost:8080'] });
  await admitted(t, e.url, { origin: 'https://a.example' });
  await admitted(t, e.url, { origin: 'http://localhost:8080' });
  for (const origin of [
    'https://b.example',
    'https://a.example/',
    'https://a.example:443',
    'HTTPS://A.EXAMPLE',
    'http://localhost',
    undefined,
  ]) {
    const r = await refused(t, e.url, { origin });
    assert.equal(r.status, 403, `origin ${origin}`);
  }
  assert.equal(e.gate.sessions.size, 2, 'refused clients never became sessions');
});

test('gate admission - an empty origins list rejects every upgrade', async (t) => {
  const e = await embedded(t, { origins: [] });
  assert.equal((await refused(t, e.url)).status, 403);
  assert.equal((await refused(t, e.url, { origin: 'https://a.example' })).status, 403);
  assert.equal(e.trace.records.length, 0, 'no session was ever opened');
});

test('gate admission - path: "/" accepts every path, "/ws" only /ws (query ignored)', async (t) => {
  const any = await embedded(t);
  await admitted(t, `ws://127.0.0.1:${any.port}/whatever/deep?x=1`);
  const ws = await embedded(t, { path: '/ws' });
  const base = `ws://127.0.0.1:${ws.port}`;
  const c = await admitted(t, `${base}/ws`);
  assert.equal((await c.request(ECHO, 'on /ws')).text, 'on /ws');
  await admitted(t, `${base}/ws?token=1`);
  for (const p of ['/', '/ws/', '/ws/x', '/wss', '/WS']) {
    const r = await refused(t, `${base}${p}`);
    assert.equal(r.status, 404, p);
  }
});

test('gate admission - a POST upgrade gets 405 with Allow: GET', async (t) => {
  const e = await embedded(t);
  const res = await new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: e.port,
      path: '/',
      method: 'POST',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'),
      },
    });
    req.on('response', (r) => {
      r.resume();
      resolve({ status: r.statusCode ?? 0, allow: r.headers.allow });
    });
    req.on('upgrade', () => reject(new Error('a POST was upgraded')));
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 405);
  assert.equal(res.allow, 'GET');
  assert.equal(e.gate.sessions.size, 0);
});

test('gate admission - maxConnNum: the next upgrade is refused with 503 before upgrading, and admitted again later', async (t) => {
  const e = await embedded(t, { maxConnNum: 2 });
  const a = await admitted(t, e.url);
  await admitted(t, e.url);
  const r = await refused(t, e.url);
  assert.equal(r.status, 503);
  assert.equal(e.gate.sessions.size, 2);
  await a.close();
  await until(() => e.gate.sessions.size === 1, 'the closed session to leave');
  const c = await admitted(t, e.url);
  assert.equal((await c.request(ECHO, 'room again')).text, 'room again');
});

test('gate admission - TLS: with keyFile and certFile the gate serves wss:// and echoes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'duet-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'k');
  const certFile = join(dir, 'c');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-subj',
    '/CN=localhost',
    '-days',
    '1',
  ]);
  const e = await embedded(t, { tls: { keyFile, certFile } });
  assert.ok(e.url.startsWith('wss://'));
  const c = await admitted(t, e.url, { rejectUnauthorized: false });
  assert.equal((await c.request(ECHO, 'over tls')).text, 'over tls');
  // the certificate is self-signed: a verifying client refuses it, and plain ws:// gets no upgrade
  const verifying = await refused(t, e.url);
  assert.equal(verifying.status, 0);
  const plain = await refused(t, `ws://127.0.0.1:${e.port}/`, { timeoutMs: 2000 });
  assert.equal(plain.status, 0, 'no HTTP answer to a plain-text handshake on a TLS port');
});

test('gate admission - authorizeTimeout: an unbound client is closed after about the timeout', async (t) => {
  const e = await embedded(t, { authorizeTimeoutMs: 300 });
  const c = await admitted(t, e.url);
  const openedAt = Date.now();
  const closed = await c.waitClose(3000);
  const ms = closed.atMs - openedAt;
  // the deadline is checked every timeout / 10 (30 ms)
  assert.ok(ms >= 290 && ms <= 300 + 30 + 250, `closed after ${ms} ms`);
  await until(() => e.trace.records.some((r) => r.to === 'closed'), 'the closed record');
  const end = e.trace.records.find((r) => r.to === 'closed');
  assert.equal(end?.event, 'authorize.expired');
  assert.equal(end?.from, 'active.unbound');
});

test('gate admission - authorizeTimeout: logging in in time keeps the session; logging out restarts the deadline', async (t) => {
  const e = await embedded(t, { authorizeTimeoutMs: 300 });
  const c = await admitted(t, e.url);
  assert.equal((await c.request(LOGIN, '42')).text, '42');
  // three timeouts long, bound: nothing closes it
  assert.equal(await c.nextOrNone(900), undefined);
  assert.ok(c.isOpen, 'a bound session is not subject to the deadline');
  const r = await c.request(LOGOUT);
  assert.equal(r.body.length, 0);
  const loggedOutAt = Date.now();
  const closed = await c.waitClose(3000);
  const ms = closed.atMs - loggedOutAt;
  // the deadline restarts when the gate unbinds, a round trip before the client sees the logout answer
  assert.ok(ms >= 200 && ms <= 300 + 30 + 250, `closed ${ms} ms after logout`);
  const mine = e.trace.records.map((x) => `${x.from}->${x.to}:${x.event}`);
  assert.deepEqual(mine, [
    'handshake->active.unbound:session.opened',
    'active.unbound->active.bound:node.bound',
    'active.bound->active.unbound:node.unbound',
    'active.unbound->closed:authorize.expired',
  ]);
});
