/**
 * The admin dashboard (issue 19) under the shipped config/nats-secure.conf: the gate and node sign in as their
 * roles' users, and the gate's dashboard signs in on a connection of its own as the admin user (admin.nats.user /
 * pass), so /api/status lists the cluster and /api/sessions the gate's sessions. A dashboard signed in as the gate
 * user instead, or one left on the gate's own connection (no admin.nats), is refused by the server: its API answers
 * 502 "Permissions Violation" at once, never a hang or an empty list.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { untilGateRoutes } from '../harness/gate-ready.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const CONF = join(dirname(fileURLToPath(import.meta.url)), '../../config/nats-secure.conf');
const PASS = { gate: 'gate-dash-pw', node: 'node-dash-pw', admin: 'admin-dash-pw' };
/** config/nats-secure.conf is written for the default prefix and registry bucket. */
const PREFIX = 'duet';

type Json = Record<string, unknown>;

const as = (role: keyof typeof PASS, block = 'bus.nats'): string[] => [
  '--set',
  `${block}.user="duet-${role}"`,
  '--set',
  `${block}.pass="${PASS[role]}"`,
];

describe('admin dashboard secure - its own NATS identity under config/nats-secure.conf', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let node: DuetProcess;
  let gate: DuetProcess;
  let refusedGate: DuetProcess;
  let sharedGate: DuetProcess;
  let base: string;
  let refusedBase: string;
  let sharedBase: string;
  const clients: WsTestClient[] = [];

  const adminOn = async (p: DuetProcess): Promise<string> =>
    ((await p.waitFor(/admin on (http:\/\/127\.0\.0\.1:\d+)\//))[1] as string).replace(/\/$/, '');

  before(async () => {
    [nats, redis] = await Promise.all([
      startNats({
        jetstream: true,
        args: ['-c', CONF],
        env: { DUET_NATS_GATE_PASS: PASS.gate, DUET_NATS_NODE_PASS: PASS.node, DUET_NATS_ADMIN_PASS: PASS.admin },
      }),
      startRedis(),
    ]);
    const args = clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix: PREFIX });
    node = await startDuet(['node', ...args, ...as('node'), '--set', 'cluster.node.id="node-s"']);
    const gateArgs = (id: string): string[] => [
      'gate',
      ...args,
      ...as('gate'),
      '--set',
      `cluster.gate.id="${id}"`,
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'admin.addr="127.0.0.1:0"',
    ];
    gate = await startDuet([...gateArgs('gate-s'), ...as('admin', 'admin.nats')]);
    // The same gate, but its dashboard signs in with the gate user's identity, which may not ask admin questions.
    refusedGate = await startDuet([...gateArgs('gate-r'), ...as('gate', 'admin.nats')]);
    // And one without admin.nats: its dashboard asks over the gate's own connection, as before issue 19's fix.
    sharedGate = await startDuet(gateArgs('gate-n'));
    [base, refusedBase, sharedBase] = await Promise.all([adminOn(gate), adminOn(refusedGate), adminOn(sharedGate)]);
    await untilGateRoutes(gate.url as string);
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    await Promise.all([gate, refusedGate, sharedGate, node].map((p) => p?.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('admin dashboard secure - signed in as the admin user, /api/status lists the gates and the node, /api/sessions the gate sessions', async () => {
    const c = await connect(gate.url as string);
    clients.push(c);
    assert.equal((await c.request(2, '9600')).text, '9600');
    const res = await fetch(`${base}/api/status`);
    const body = (await res.json()) as { instances: Json[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    const ids = body.instances.map((a) => a.id);
    for (const id of ['gate-s', 'gate-r', 'gate-n', 'node-s'])
      assert.ok(ids.includes(id), `${id} answered: ${ids.join(',')}`);
    assert.equal(body.instances.find((a) => a.id === 'gate-s')?.sessions, 1);

    const s = await fetch(`${base}/api/sessions?gate=gate-s`);
    const sessions = (await s.json()) as { total: number; sessions: Json[] };
    assert.equal(s.status, 200, JSON.stringify(sessions));
    assert.equal(sessions.total, 1);
    assert.equal(sessions.sessions[0]?.uid, 9600);
    assert.equal((await fetch(`${base}/api/locate?uid=9600`)).status, 200);
  });

  it('admin dashboard secure - signed in as the gate user, the server refuses: 502 naming the Permissions Violation', async () => {
    for (const path of ['/api/status', '/api/sessions?gate=gate-s', '/api/locate?uid=9600', '/api/trace?uid=9600']) {
      const started = Date.now();
      const res = await fetch(`${refusedBase}${path}`, { signal: AbortSignal.timeout(10_000) });
      const body = (await res.json()) as { error?: string };
      assert.equal(res.status, 502, `${path}: ${JSON.stringify(body)}`);
      assert.match(body.error ?? '', /Permissions Violation/, path);
      assert.ok(Date.now() - started < 5000, `${path} answered within its window, not after a hang`);
    }
    // Without admin.nats (the gate's own connection, the gate user) the refusal is the same 502, not an empty list.
    const shared = await fetch(`${sharedBase}/api/status`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(shared.status, 502);
    assert.match(((await shared.json()) as { error: string }).error, /Permissions Violation/);
    // Refusals are the API's answer: the processes keep running and the admin dashboard keeps answering.
    assert.equal(refusedGate.running, true);
    assert.equal(sharedGate.running, true);
    assert.equal((await fetch(`${base}/api/status`)).status, 200);
  });
});
