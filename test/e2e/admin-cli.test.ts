/**
 * The admin CLI over a real NATS bus (issue 19): `duet status`, `locate`, `sessions`, `kick` and `drain` against a
 * spawned gate and node, human-readable and --json, with their exit codes for unknown uids and instances.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { untilGateRoutes } from '../harness/gate-ready.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const BIN = fileURLToPath(new URL('../../bin/duet.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('admin cli - status, locate, sessions, kick and drain over NATS', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  let node: DuetProcess;
  const clients: WsTestClient[] = [];
  const prefix = `a${randomUUID().slice(0, 8)}`;

  /** Runs `duet <args>` against this test's bus and prefix. */
  function duet(...args: string[]): Promise<Run> {
    const child = spawn(
      process.execPath,
      [BIN, ...args, '--set', `bus.nats.servers=["${nats.url}"]`, '--set', `bus.nats.prefix="${prefix}"`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    return new Promise((resolve) =>
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      }),
    );
  }

  async function login(uid: number): Promise<WsTestClient> {
    const c = await connect(gate.url as string);
    clients.push(c);
    assert.equal((await c.request(2, String(uid))).text, String(uid));
    return c;
  }

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    const args = clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix });
    node = await startDuet(['node', ...args, '--set', 'cluster.node.id="node-x"']);
    gate = await startDuet([
      'gate',
      ...args,
      '--set',
      'cluster.gate.id="gate-x"',
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
    ]);
    await untilGateRoutes(gate.url as string);
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    await Promise.all([gate, node].map((p) => p?.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('admin cli - status lists the gate and the node, locate and sessions find a logged-in user', async () => {
    await login(9400);
    const status = await duet('status', '--json');
    assert.equal(status.code, 0, status.stderr);
    const all = JSON.parse(status.stdout) as Record<string, unknown>[];
    const g = all.find((a) => a.id === 'gate-x');
    const n = all.find((a) => a.id === 'node-x');
    assert.equal(g?.kind, 'gate');
    assert.equal(g?.state, 'work');
    assert.equal(g?.sessions, 1);
    assert.equal(n?.kind, 'node');
    assert.ok(typeof n?.version === 'string' && typeof n?.host === 'string' && Number(n?.uptimeMs) >= 0);
    const routes = (n?.routes ?? []) as number[];
    for (const r of [1, 2, 3, 4]) assert.ok(routes.includes(r), `route ${r} in ${routes}`);
    const human = await duet('status');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^KIND\s+ID\s+NAME\s+STATE/);
    assert.match(human.stdout, /gate\s+gate-x\s+.*work/);

    const located = await duet('locate', '9400', '--json');
    assert.equal(located.code, 0, located.stderr);
    const loc = JSON.parse(located.stdout) as { gate: string; cids: number[]; nodes: Record<string, string> };
    assert.equal(loc.gate, 'gate-x');
    assert.equal(loc.cids.length, 1);
    assert.ok(Object.values(loc.nodes).includes('node-x'), JSON.stringify(loc.nodes));
    const unknown = await duet('locate', '12345');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown uid 12345/);

    const listed = await duet('sessions', '--gate', 'gate-x', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const sessions = (JSON.parse(listed.stdout) as { sessions: Record<string, unknown>[] }).sessions;
    const s = sessions.find((x) => x.uid === 9400);
    assert.equal(s?.cid, loc.cids[0]);
    assert.match(String(s?.remote), /127\.0\.0\.1/);
    assert.match(String(s?.state), /bound/);
    // bytes in and out are the session's packet bytes: a 3,000-byte echo adds a little more than 3,000 each way
    const before = { in: Number(s?.bytesIn), out: Number(s?.bytesOut) };
    assert.ok(before.in > 0 && before.out > 0, JSON.stringify(s));
    const me = clients.find(Boolean) as WsTestClient;
    assert.equal((await me.request(1, 'x'.repeat(3000))).text.length, 3000);
    const again = (
      JSON.parse((await duet('sessions', '--gate', 'gate-x', '--json')).stdout) as {
        sessions: Record<string, unknown>[];
      }
    ).sessions.find((x) => x.uid === 9400);
    const grew = { in: Number(again?.bytesIn) - before.in, out: Number(again?.bytesOut) - before.out };
    assert.ok(grew.in >= 3000 && grew.in < 3100, `bytes in grew by ${grew.in}`);
    assert.ok(grew.out >= 3000 && grew.out < 3100, `bytes out grew by ${grew.out}`);
    const table = await duet('sessions', '--gate', 'gate-x');
    assert.match(table.stdout, /BYTES IN\s+BYTES OUT/);
    assert.match(table.stdout, new RegExp(`9400\\s.*\\s${again?.bytesIn}\\s+${again?.bytesOut}`));
    const nosuch = await duet('sessions', '--gate', 'no-such-gate');
    assert.equal(nosuch.code, 1);
    assert.match(nosuch.stderr, /no such instance no-such-gate/);
  });

  it('admin cli - kick closes the session with 4000; kicking an unknown uid exits 1', async () => {
    const c = await login(9401);
    const kicked = await duet('kick', '9401');
    assert.equal(kicked.code, 0, kicked.stderr);
    assert.match(kicked.stdout, /kicked uid 9401/);
    assert.equal((await c.waitClose()).code, 4000);
    const again = await duet('kick', '9401');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /unknown uid 9401/);
  });

  it('admin cli - drain puts the node and the gate in hang; the sessions they hold go on', async () => {
    const c = await login(9402);
    const drained = await duet('drain', 'node-x');
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /node node-x is now hang/);
    assert.equal((await duet('drain', 'no-such-node')).code, 1);
    assert.equal((await duet('drain', 'gate-x')).code, 0);
    const all = JSON.parse((await duet('status', '--json')).stdout) as Record<string, unknown>[];
    assert.equal(all.find((a) => a.id === 'node-x')?.state, 'hang');
    assert.equal(all.find((a) => a.id === 'gate-x')?.state, 'hang');
    // The bound user's stateful route still reaches its node through its gate.
    assert.equal((await c.request(3)).text, '9402@node-x');
    // The hung gate takes no new connection.
    await assert.rejects(connect(gate.url as string));
  });
});
