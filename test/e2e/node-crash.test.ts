/**
 * A node killed with SIGKILL while users are bound to it (issue 10, Outages): one nats-server with JetStream (bus and
 * KV registry), a redis-server (locator), one gate and two nodes as `duet` processes. Measures what the gate does
 * with the dead node's users: stateless traffic moves to the other node within 5 s; stateful frames of the dead
 * node's users are re-routed by the gate to a live node of the same group once the dead one leaves the route table.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Route } from '../fixtures/apps/cluster-app.js';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const APP = new URL('../fixtures/apps/cluster-app.ts', import.meta.url).pathname;
const LOGIN = 2;
const WHOAMI = 3;
const USERS = 8;

/** Polls `fn` every 100 ms until it returns a value; throws after `timeoutMs`. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A request answered within `ms`, or undefined (lost). */
const ask = (c: WsTestClient, route: number, body: string, ms = 1000): Promise<string | undefined> =>
  c.request(route, body, ms).then(
    (r) => r.text,
    () => undefined,
  );

describe('node crash - a node killed with SIGKILL while users are bound to it', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  let nodes: DuetProcess[] = [];
  const clients: WsTestClient[] = [];
  /** uid → the node it was bound to before the kill. */
  const home = new Map<number, string>();
  let victim: DuetProcess;
  let survivor: DuetProcess;
  let killedAt = 0;
  const prefix = `nc${randomUUID().slice(0, 8)}`;

  const common = (): string[] => clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix });

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    nodes = await Promise.all([0, 1].map(() => startDuet(['node', '--app', APP, ...common()])));
    gate = await startDuet([
      'gate',
      ...common(),
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'cluster.gate.dispatch="rr"',
      // Sessions stay open here to show the re-routing; the default (close 4010 the sessions whose requests went to
      // the dead node) is covered by node-liveness.test.ts.
      '--set',
      'cluster.gate.nodeLost="ignore"',
    ]);
    const probe = await connect(gate.url as string);
    clients.push(probe);
    await until('both nodes routable', async () => {
      const seen = new Set<string | undefined>();
      for (let i = 0; i < 6; i++) seen.add(await ask(probe, Route.WHICH_NODE, ''));
      return seen.size === 2 && !seen.has(undefined) ? true : undefined;
    });
    // Users log in (a stateless route: rr spreads them), each bound to the node that handled its login.
    for (let uid = 1; uid <= USERS; uid++) {
      const c = await connect(gate.url as string);
      clients.push(c);
      assert.equal(await ask(c, LOGIN, String(uid), 5000), String(uid));
      const who = (await ask(c, WHOAMI, '', 5000)) ?? assert.fail(`whoami for ${uid}`);
      home.set(uid, who.split('@')[1] as string);
    }
    const counts = [...home.values()].reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());
    assert.equal(counts.size, 2, `users on both nodes: ${JSON.stringify([...counts])}`);
    victim = nodes[0] as DuetProcess;
    survivor = nodes[1] as DuetProcess;
    await victim.kill();
    killedAt = Date.now();
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    await Promise.all([gate, ...nodes].map((p) => p?.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const usersOf = (nid: string | undefined): number[] => [...home].filter(([, n]) => n === nid).map(([u]) => u);
  const clientOf = (uid: number): WsTestClient => clients[uid] as WsTestClient;

  it('node crash - within 5 s stateless traffic leaves the killed node and its users are re-routed', async (t) => {
    const c = clients[0] as WsTestClient;
    const [stranded] = usersOf(victim.nodeId);
    const sc = clientOf(stranded as number);
    // Both polled from the moment of the kill: frames sent before the gate notices the departure are lost.
    const [stateless, stateful] = await Promise.all([
      until(
        'twelve stateless answers in a row, none from the killed node',
        async () => {
          for (let i = 0; i < 12; i++) {
            const id = await ask(c, Route.WHICH_NODE, '', 400);
            if (id === undefined || id === victim.nodeId) return undefined;
          }
          return Date.now() - killedAt;
        },
        8_000,
      ),
      until(
        `uid ${stranded}'s stateful route answered by the survivor`,
        async () =>
          (await ask(sc, WHOAMI, '', 400)) === `${stranded}@${survivor.nodeId}` ? Date.now() - killedAt : undefined,
        8_000,
      ),
    ]);
    t.diagnostic(
      `after SIGKILL: stateless traffic off the killed node in ${stateless} ms, its user re-routed in ${stateful} ms`,
    );
    assert.ok(stateless < 5_000, `stateless ejected after ${stateless} ms`);
    assert.ok(stateful < 5_000, `stateful re-routed after ${stateful} ms`);
  });

  it('node crash - users of the surviving node are untouched (sessions open, stateful routes answer)', async () => {
    for (const uid of usersOf(survivor.nodeId)) {
      const c = clientOf(uid);
      assert.ok(c.isOpen, `uid ${uid} still connected`);
      assert.equal(await ask(c, WHOAMI, '', 3000), `${uid}@${survivor.nodeId}`);
    }
  });

  it('node crash - users of the killed node keep their sessions; stateless and stateful routes answer from the survivor', async (t) => {
    const stranded = usersOf(victim.nodeId);
    assert.ok(stranded.length > 0);
    const rows: string[] = [];
    for (const uid of stranded) {
      const c = clientOf(uid);
      assert.ok(c.isOpen, `uid ${uid}: the gate closed its session (a disconnect would be fine, but say so)`);
      assert.equal(await ask(c, Route.WHICH_NODE, '', 3000), survivor.nodeId, 'stateless goes to the survivor');
      const who = await ask(c, WHOAMI, '', 1500);
      rows.push(`uid ${uid}: whoami ${who === undefined ? 'LOST (no answer in 1.5 s)' : `answered ${who}`}`);
      assert.equal(who, `${uid}@${survivor.nodeId}`, `uid ${uid} re-routed`);
    }
    t.diagnostic(`${Date.now() - killedAt} ms after the kill, users of the killed node: ${rows.join('; ')}`);
  });

  it('node crash - a user of the killed node who logs in again is re-routed to the surviving node', async () => {
    const [uid] = usersOf(victim.nodeId);
    const c = clientOf(uid as number);
    assert.equal(await ask(c, LOGIN, String(uid), 3000), String(uid));
    assert.equal(
      await until('whoami from the survivor', () => ask(c, WHOAMI, '', 1000), 5000),
      `${uid}@${survivor.nodeId}`,
    );
  });

  it('node crash - users of the killed node are re-routed to a live node of the group within 5 s', async () => {
    const [, uid] = usersOf(victim.nodeId);
    assert.ok(uid !== undefined, 'a second stranded user');
    const c = clientOf(uid);
    const rerouted = await ask(c, WHOAMI, '', 2000);
    assert.ok(!c.isOpen || rerouted === `${uid}@${survivor.nodeId}`, `whoami: ${rerouted}; open: ${c.isOpen}`);
  });
});
