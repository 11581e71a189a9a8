/**
 * Node liveness (issue 20, case 6): a node killed with SIGKILL or frozen with SIGSTOP. One nats-server (bus and KV
 * registry, refreshed every 3 s so the registry alone would take ~9 s), a redis-server, one gate and three nodes as
 * `duet` processes, stateless routes spread round robin. Within 2.5 s of the signal the gate must stop routing to
 * the node (its liveness beats stopped), and every request sent meanwhile is either answered or its client is
 * closed with 4010: no silence.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CloseCode } from '../../src/errors.js';
import { Route } from '../fixtures/apps/cluster-app.js';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const APP = new URL('../fixtures/apps/cluster-app.ts', import.meta.url).pathname;
const CLIENTS = 24;

type Outcome = { kind: 'answer'; nid: string; atMs: number } | { kind: 'closed'; code: number; atMs: number };

/** One request: its answer, the close the client saw, or undefined (silence) after `ms`. */
async function outcome(c: WsTestClient, ms: number): Promise<Outcome | undefined> {
  const answer = c.request(Route.WHICH_NODE, '', ms).then(
    (r): Outcome => ({ kind: 'answer', nid: r.text, atMs: Date.now() }),
    () => undefined,
  );
  const closed = c.closed.then((i): Outcome => ({ kind: 'closed', code: i.code, atMs: i.atMs }));
  return Promise.race([answer, closed]);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('node liveness - a killed or frozen node leaves the route table fast, its clients hear of it', {
  timeout: 120_000,
}, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  const nodes: DuetProcess[] = [];
  const clients: WsTestClient[] = [];
  const prefix = `nl${randomUUID().slice(0, 8)}`;

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    const common = clusterArgs({
      natsUrl: nats.url,
      redisAddr: redis.addr,
      prefix,
      registryInterval: '3s',
      logLevel: 'info',
    });
    nodes.push(...(await Promise.all([0, 1, 2].map(() => startDuet(['node', '--app', APP, ...common])))));
    gate = await startDuet([
      'gate',
      ...common,
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'cluster.gate.dispatch="rr"',
    ]);
    const probe = await connect(gate.url as string);
    clients.push(probe);
    await until(
      'all three nodes routable',
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 9; i++) seen.add((await probe.request(Route.WHICH_NODE, '', 1000)).text);
        return seen.size === 3 ? true : undefined;
      },
      20_000,
    );
    // A gate watches a node from its first beat on; until then only the registry TTL would notice it dying.
    for (const n of nodes)
      await gate.waitFor(new RegExp(`"nid":"${n.nodeId}","intervalMs":500,"msg":"watching node liveness"`));
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    for (const n of nodes) if (n.running) process.kill(n.pid, 'SIGCONT');
    await Promise.all([gate, ...nodes].map((p) => p?.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  /** Signals `victim`, then every one of CLIENTS fresh clients sends one request at once. */
  async function hit(victim: DuetProcess, signal: NodeJS.Signals, t: { diagnostic(s: string): void }) {
    const batch = await Promise.all(Array.from({ length: CLIENTS }, () => connect(gate.url as string)));
    clients.push(...batch);
    process.kill(victim.pid, signal);
    const at = Date.now();
    const results = await Promise.all(batch.map((c) => outcome(c, 5_000)));
    const silent = results.filter((r) => r === undefined).length;
    const closed = results.filter((r) => r?.kind === 'closed');
    const answered = results.filter((r) => r?.kind === 'answer');
    const detectMs = Math.max(0, ...closed.map((r) => r.atMs - at));
    t.diagnostic(
      `${signal}: ${answered.length} answered, ${closed.length} closed (codes ${[...new Set(closed.map((r) => (r.kind === 'closed' ? r.code : 0)))]}) ` +
        `at most ${detectMs} ms after the signal, ${silent} silent`,
    );
    assert.equal(silent, 0, `${silent} of ${CLIENTS} requests got neither an answer nor a close`);
    assert.ok(closed.length > 0, 'round robin sent some requests to the victim: their clients were closed');
    for (const r of closed) assert.equal(r.kind === 'closed' && r.code, CloseCode.NODE_UNAVAILABLE);
    for (const r of answered) assert.notEqual(r.kind === 'answer' && r.nid, victim.nodeId);
    assert.ok(detectMs < 2_500, `clients of the dead node told after ${detectMs} ms`);
    // Routing has left the victim: a fresh client's requests all go to the two others.
    const c = await connect(gate.url as string);
    clients.push(c);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add((await c.request(Route.WHICH_NODE, '', 2000)).text);
    assert.ok(!seen.has(victim.nodeId as string), `still routed to the victim ${Date.now() - at} ms after ${signal}`);
    t.diagnostic(`${signal}: 12 requests ${Date.now() - at} ms after the signal, served by ${seen.size} other nodes`);
  }

  it('node liveness - SIGKILL: out of routing within 2.5 s, its clients closed with 4010, none left silent', async (t) => {
    await hit(nodes[0] as DuetProcess, 'SIGKILL', t);
    assert.match(gate.output, /missed 3 liveness beats/, 'the gate logged the loss');
  });

  it('node liveness - SIGSTOP: the same; after SIGCONT the node is routed to again', async (t) => {
    const frozen = nodes[1] as DuetProcess;
    await hit(frozen, 'SIGSTOP', t);
    process.kill(frozen.pid, 'SIGCONT');
    const c = await connect(gate.url as string);
    clients.push(c);
    const backMs = await until(
      'the thawed node answering again',
      async () => ((await c.request(Route.WHICH_NODE, '', 1000)).text === frozen.nodeId ? Date.now() : undefined),
      8_000,
    );
    assert.ok(backMs > 0);
  });
});
