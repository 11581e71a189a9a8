import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WS from 'ws';
import { Client, type ClientEvents, type ClientOptions } from '../../src/client/index.js';
import { freePort } from '../harness/free-port.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const START_DEADLINE_MS = 20_000;
const STOP_DEADLINE_MS = 10_000;
const text = new TextEncoder();

type TestContext = { after: (fn: () => unknown) => void };

/** `duet dev` as a child process on a free loopback port; stopped by pid (SIGTERM, then SIGKILL) after the test. */
async function startDev(t: TestContext, sets: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const args = ['bin/duet.js', 'dev', '--set', `network.ws.server.addr=127.0.0.1:${port}`];
    for (const s of sets) args.push('--set', s);
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => stopByPid(child));
    let output = '';
    // Keep draining both pipes for the process's whole life (a full pipe would block its logger).
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), START_DEADLINE_MS);
      const check = (): void => {
        if (/listening on ws:\/\//.test(output)) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout?.on('data', check);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ready) return { url: `ws://127.0.0.1:${port}/`, child };
    await stopByPid(child);
    // The free port can be taken between our probe and the child's bind: retry then, fail on anything else.
    if (!/EADDRINUSE/.test(output) || tries >= 2) throw new Error(`duet dev did not start:\n${output}`);
  }
}

async function stopByPid(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }, STOP_DEADLINE_MS);
  await exited;
  clearTimeout(timer);
}

function makeClient(t: TestContext, url: string, options: Partial<ClientOptions> = {}): Client {
  const client = new Client({ url, WebSocket: WS, reconnect: { enabled: false }, ...options });
  t.after(() => client.close());
  return client;
}

function nextEvent<K extends keyof ClientEvents>(client: Client, event: K, ms = 10_000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for '${event}'`));
    }, ms);
    const off = client.on(event, (p) => {
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

test('client-ws - echo on route 1 through `duet dev` in its default configuration', async (t) => {
  const { url, child } = await startDev(t);
  const client = makeClient(t, url, { heartbeat: { intervalMs: 300 } });
  const closes: ClientEvents['close'][] = [];
  client.on('close', (c) => closes.push(c));
  await client.connect();

  const reply = await client.request(1, text.encode('hi'));
  assert.equal(reply.route, 1);
  assert.equal(reply.seq, 1);
  assert.deepEqual(reply.body, text.encode('hi'));

  // Pipelined requests come back matched by seq.
  const bodies = Array.from({ length: 200 }, (_, i) => text.encode(`m${i}`));
  const replies = await Promise.all(bodies.map((b) => client.request(1, b)));
  for (const [i, r] of replies.entries()) assert.deepEqual(r.body, bodies[i]);

  // send() is seq 0: the echo comes back with seq 0, i.e. as a push.
  const push = nextEvent(client, 'push');
  client.send(1, text.encode('fire and forget'));
  assert.deepEqual(await push, { route: 1, seq: 0, body: text.encode('fire and forget') });

  // The gate answers our heartbeats ("resp"): more than 2 intervals pass without a liveness drop.
  for (let i = 0; i < 3; i++) await nextEvent(client, 'heartbeat');
  assert.equal(closes.length, 0);
  assert.equal(client.state, 'open');

  await client.close();
  assert.equal(closes.at(-1)?.willReconnect, false);
  assert.equal(child.exitCode, null, 'the gate outlives its client');
});

test('client-ws - little-endian, 4-byte routes, 1-byte seqs and server time against the real gate', async (t) => {
  const packet = { byteOrder: 'little', routeBytes: 4, seqBytes: 1 } as const;
  const { url } = await startDev(t, [
    'packet.byteOrder="little"',
    'packet.routeBytes=4',
    'packet.seqBytes=1',
    'packet.heartbeatTime=true',
  ]);
  const client = makeClient(t, url, { packet, heartbeat: { intervalMs: 300 } });
  await client.connect();

  // The gate decodes our little-endian heartbeat and answers with its clock (i64 ns).
  const beat = await nextEvent(client, 'heartbeat');
  assert.equal(typeof beat.timeNs, 'bigint');
  assert.ok(Math.abs((beat.timeMs ?? 0) - Date.now()) < 60_000, `server time ${beat.timeMs} is near now`);
  assert.equal(BigInt(beat.timeMs ?? 0), (beat.timeNs ?? 0n) / 1_000_000n);

  // 300 requests with 1-byte seqs: the counter wraps twice (127 → 1) and every reply still matches.
  for (let batch = 0; batch < 3; batch++) {
    const bodies = Array.from({ length: 100 }, (_, i) => text.encode(`b${batch}-${i}`));
    const replies = await Promise.all(bodies.map((b) => client.request(1, b)));
    for (const [i, r] of replies.entries()) assert.deepEqual(r.body, bodies[i]);
    assert.equal(replies.at(-1)?.seq, ((batch * 100 + 99) % 127) + 1);
  }
  assert.equal(client.pendingCount, 0);
  await client.close();
});
