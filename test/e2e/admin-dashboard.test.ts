/**
 * The admin dashboard (issue 19) of a spawned gate on a real NATS bus: its JSON endpoints (status, locate), the
 * bearer token on kick and drain, the page in headless Chromium listing the gate and the node and following a
 * user's live trace, a gate's sessions view (screenshot in test/artifacts/dashboard.png, a copy kept in docs/), then kick (4000) and drain (hang) through the API.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { untilGateRoutes } from '../harness/gate-ready.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const CHROMIUM = '/usr/bin/chromium';
// Written to the git-ignored test/artifacts/ (docs/dashboard.png is a kept copy), so a test run leaves the tree clean.
const SCREENSHOT = fileURLToPath(new URL('../artifacts/dashboard.png', import.meta.url));
const TOKEN = 'dashboard-test-token';
const STEP_TIMEOUT_MS = 15_000;

type Json = Record<string, unknown>;

describe('admin dashboard - HTTP endpoints and page over NATS', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  let node: DuetProcess;
  let base: string;
  const clients: WsTestClient[] = [];
  const prefix = `d${randomUUID().slice(0, 8)}`;

  async function login(uid: number): Promise<WsTestClient> {
    const c = await connect(gate.url as string);
    clients.push(c);
    assert.equal((await c.request(2, String(uid))).text, String(uid));
    return c;
  }

  async function post(path: string, body: Json, token?: string): Promise<{ status: number; body: Json }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Json };
  }

  async function status(): Promise<Json[]> {
    const res = await fetch(`${base}/api/status`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { instances: Json[] }).instances;
  }

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    const args = clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix });
    node = await startDuet(['node', ...args, '--set', 'cluster.node.id="node-d"']);
    gate = await startDuet([
      'gate',
      ...args,
      '--set',
      'cluster.gate.id="gate-d"',
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'admin.addr="127.0.0.1:0"',
      '--set',
      `admin.token="${TOKEN}"`,
    ]);
    base = ((await gate.waitFor(/admin on (http:\/\/127\.0\.0\.1:\d+)\//))[1] as string).replace(/\/$/, '');
    await untilGateRoutes(gate.url as string);
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    await Promise.all([gate, node].map((p) => p?.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('admin dashboard - status and locate answer without a token; kick and drain refuse without it (401)', async () => {
    await login(9500);
    const all = await status();
    const g = all.find((a) => a.id === 'gate-d');
    assert.equal(g?.kind, 'gate');
    assert.equal(g?.state, 'work');
    assert.equal(g?.sessions, 1);
    assert.equal(typeof g?.messagesPerSec, 'number');
    assert.equal(all.find((a) => a.id === 'node-d')?.kind, 'node');

    const loc = await fetch(`${base}/api/locate?uid=9500`);
    assert.equal(loc.status, 200);
    assert.equal(((await loc.json()) as { located: Json[] }).located[0]?.gate, 'gate-d');
    assert.equal((await fetch(`${base}/api/locate?uid=4242`)).status, 404);

    const sessions = await fetch(`${base}/api/sessions?gate=gate-d`);
    const listed = (await sessions.json()) as { total: number; sessions: Json[] };
    assert.equal(sessions.status, 200, JSON.stringify(listed));
    assert.equal(listed.sessions.find((s) => s.uid === 9500)?.state !== undefined, true, JSON.stringify(listed));
    const unknown = await fetch(`${base}/api/sessions?gate=no-such-gate`);
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /no such gate no-such-gate/);
    assert.equal((await fetch(`${base}/api/sessions`)).status, 400);

    for (const token of [undefined, '', 'wrong-token', `${TOKEN}x`]) {
      const k = await post('/api/kick', { uid: 9500 }, token);
      assert.equal(k.status, 401, `kick with token ${JSON.stringify(token)}`);
      assert.equal((await post('/api/drain', { id: 'node-d' }, token)).status, 401);
    }
    // Nothing changed: the session is still there, the node still works.
    const again = await status();
    assert.equal(again.find((a) => a.id === 'gate-d')?.sessions, 1);
    assert.equal(again.find((a) => a.id === 'node-d')?.state, 'work');
  });

  it('admin dashboard - the page lists the gate and the node and follows a live trace (headless Chromium)', async (t) => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium to run the browser test`);
    const userDataDir = mkdtempSync(join(tmpdir(), 'duet-chromium-'));
    t.after(() => rmSync(userDataDir, { recursive: true, force: true }));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      viewport: { width: 1000, height: 520 },
    });
    t.after(() => context.close());
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
    });
    await page.goto(`${base}/`);
    await page.locator('#instances tr[data-id="gate-d"] td.work').waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.locator('#instances tr[data-id="node-d"] td.work').waitFor({ timeout: STEP_TIMEOUT_MS });

    // The sessions view: a click on the gate lists its sessions, the logged-in client's row by its uid.
    await page.click('#instances tr[data-id="gate-d"] td:nth-child(2)');
    await page.locator('#sessions-of', { hasText: 'of gate gate-d (' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    const row = page.locator('#sessions tr', { has: page.locator('td:nth-child(2)', { hasText: /^9500$/ }) });
    await row.waitFor({ timeout: STEP_TIMEOUT_MS });
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells.length, 7, cells.join(' | '));
    assert.match(cells[2] ?? '', /\S/, 'state');
    assert.match(cells[3] ?? '', /127\.0\.0\.1|-/, 'remote');
    // bytes in / out: the session's packet bytes so far (its login request and reply at least)
    for (const b of cells.slice(5)) assert.ok(/^\d+$/.test(b) && Number(b) > 0, `bytes cell ${b}`);

    await page.fill('#uid', '9501');
    await page.click('#follow');
    await page.locator('#trace', { hasText: 'gate gate-d' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    const c = await login(9501);
    await page.locator('#trace', { hasText: /uid 9501 .*→/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
    // The sessions view follows the status poll: the new session shows up without another click.
    await page.locator('#sessions tr td:nth-child(2)', { hasText: /^9501$/ }).waitFor({ timeout: STEP_TIMEOUT_MS });
    await c.request(1, 'traced');
    await page.click('#locate');
    await page.locator('#where', { hasText: 'gate gate-d' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    await page.fill('#token', TOKEN);
    await page.locator('#token').dispatchEvent('change');
    await page.screenshot({ path: SCREENSHOT });
    // The kick button with the token closes the traced session with 4000, and the trace shows it.
    await page.click('#kick');
    assert.equal((await c.waitClose()).code, 4000);
    await page.locator('#note', { hasText: 'kicked uid 9501' }).waitFor({ timeout: STEP_TIMEOUT_MS });
    assert.deepEqual(errors, []);
  });

  it('admin dashboard - kick with the token closes the session with 4000; drain puts the node in hang', async () => {
    const c = await login(9502);
    const k = await post('/api/kick', { uid: 9502 }, TOKEN);
    assert.equal(k.status, 200, JSON.stringify(k.body));
    assert.equal((await c.waitClose()).code, 4000);
    assert.equal((await post('/api/kick', { uid: 9502 }, TOKEN)).status, 404);

    const d = await post('/api/drain', { id: 'node-d' }, TOKEN);
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal(d.body.state, 'hang');
    assert.equal((await post('/api/drain', { id: 'no-such-node' }, TOKEN)).status, 404);
    assert.equal((await status()).find((a) => a.id === 'node-d')?.state, 'hang');
  });
});
