/**
 * The cluster over NATS (issue 4, with the Redis locator and the NATS KV registry of issue 5): two gates and three
 * nodes as separate `duet` processes, each on a different server of a real 3-server NATS cluster, plus a real
 * redis-server. Clients on both gates.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import { Route } from '../fixtures/apps/cluster-app.js';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsCluster, startNatsCluster } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

const APP = new URL('../fixtures/apps/cluster-app.ts', import.meta.url).pathname;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe('cluster - two gates and three nodes over a 3-server NATS cluster', { timeout: 240_000 }, () => {
  let nats: NatsCluster;
  let redis: RedisServer;
  const procs: DuetProcess[] = [];
  const clients: Client[] = [];
  let gateA: DuetProcess;
  let gateB: DuetProcess;
  let nodes: DuetProcess[] = [];
  const prefix = `t${randomUUID().slice(0, 8)}`;

  const common = (natsUrl: string): string[] => clusterArgs({ natsUrl, redisAddr: `127.0.0.1:${redis.port}`, prefix });

  const startGate = (i: number): Promise<DuetProcess> =>
    startDuet([
      'gate',
      ...common(nats.urls[i] as string),
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'cluster.gate.dispatch="rr"',
      // Clients here keep their sessions through a node crash and retry; node-liveness.test.ts covers the
      // default, which closes (4010) the sessions whose requests went to the dead node.
      '--set',
      'cluster.gate.nodeLost="ignore"',
    ]);
  const startNode = (i: number, weight = 1): Promise<DuetProcess> =>
    startDuet(['node', '--app', APP, ...common(nats.urls[i] as string), '--set', `cluster.node.weight=${weight}`]);

  async function client(gate: DuetProcess): Promise<Client> {
    const c = new Client({
      url: gate.url as string,
      WebSocket: WebSocket as never,
      reconnect: { enabled: false },
      heartbeat: { intervalMs: 0 },
      requestTimeoutMs: 5_000,
    });
    await c.connect();
    clients.push(c);
    return c;
  }

  const ask = async (c: Client, route: number, body = ''): Promise<string> =>
    dec((await c.request(route, enc(body))).body);

  before(async () => {
    [nats, redis] = await Promise.all([startNatsCluster(3, { jetstream: true }), startRedis()]);
    nodes = await Promise.all([startNode(0), startNode(1), startNode(2)]);
    [gateA, gateB] = await Promise.all([startGate(0), startGate(1)]);
    procs.push(...nodes, gateA, gateB);
    // The gates see all three nodes once their route tables list them: poll WHICH_NODE until 3 ids answered.
    const c = await client(gateA);
    await until('all three nodes routable from gate A', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) seen.add(await ask(c, Route.WHICH_NODE));
      return seen.size === 3 ? seen : undefined;
    });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await Promise.all(procs.map((p) => p.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('cluster - echo through either gate returns the exact bytes', async () => {
    for (const g of [gateA, gateB]) {
      const c = await client(g);
      const r = await c.request(1, enc('hello cluster'));
      assert.equal(r.route, 1);
      assert.equal(dec(r.body), 'hello cluster');
    }
  });

  it('cluster - rr spreads stateless requests evenly over the three nodes', async () => {
    const c = await client(gateB);
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const id = await ask(c, Route.WHICH_NODE);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.equal(counts.size, 3);
    for (const n of counts.values()) assert.ok(n >= 90 && n <= 110, `rr share ${n} of 300`);
  });

  it('cluster - login pins the user to one node from any gate (stateful routing)', async () => {
    const a = await client(gateA);
    assert.equal(await ask(a, 2, '1001'), '1001');
    const who = await ask(a, 3);
    const [uid, nid] = who.split('@');
    assert.equal(uid, '1001');
    for (let i = 0; i < 10; i++) assert.equal(await ask(a, 3), who);
    assert.ok(
      nodes.some((n) => n.nodeId === nid),
      `whoami names a node of the cluster: ${who}`,
    );
  });

  it('cluster - a second login on the other gate kicks the first connection (cross-gate kick)', async () => {
    const a = await client(gateA);
    assert.equal(await ask(a, 2, '2002'), '2002');
    const closed = new Promise<number>((resolve) => a.on('close', (i) => resolve(i.code)));
    const b = await client(gateB);
    assert.equal(await ask(b, 2, '2002'), '2002');
    assert.equal(await closed, 4003);
    assert.match(await ask(b, 3), /^2002@/);
  });

  it('cluster - push, multicast and broadcast reach users on both gates with acked counts', async () => {
    const a = await client(gateA);
    const b = await client(gateB);
    await ask(a, 2, '3001');
    await ask(b, 2, '3002');
    const pushes = (c: Client): string[] => {
      const got: string[] = [];
      c.on('push', (p) => {
        if (p.route === Route.PUSHED) got.push(dec(p.body));
      });
      return got;
    };
    const gotA = pushes(a);
    const gotB = pushes(b);
    assert.equal(await ask(a, Route.PUSH_USER, '3002|direct'), '1');
    assert.equal(await ask(b, Route.MULTICAST, '3001,3002,999999|multi'), '2');
    const total = Number(await ask(a, Route.BROADCAST, 'all'));
    // Every bound user on both gates (other tests' users may be bound too): at least our two.
    assert.ok(total >= 2, `broadcast delivered ${total}`);
    await until('pushes arrive', async () => (gotA.length >= 2 && gotB.length >= 3 ? true : undefined), 5_000);
    assert.deepEqual(gotB.slice(0, 3), ['direct', 'multi', 'all']);
    assert.deepEqual(gotA.slice(0, 2), ['multi', 'all']);
    assert.equal(await ask(a, Route.PUSH_USER, '424242|x'), 'error:DUET_ERR_SESSION_NOT_FOUND');
  });

  it('cluster - kick across gates by uid, and disconnect-after-push delivers the push first', async () => {
    const a = await client(gateA);
    const b = await client(gateB);
    await ask(a, 2, '4001');
    const closedA = new Promise<number>((resolve) => a.on('close', (i) => resolve(i.code)));
    assert.equal(await ask(b, Route.KICK_USER, '4001'), 'ok');
    assert.equal(await closedA, 4000);

    const got: string[] = [];
    b.on('push', (p) => got.push(dec(p.body)));
    const closedB = new Promise<number>((resolve) => b.on('close', (i) => resolve(i.code)));
    b.send(Route.PUSH_THEN_DISCONNECT, enc(''));
    assert.equal(await closedB, 1000);
    assert.deepEqual(got, ['bye']);
  });

  it('cluster - connect, reconnect and disconnect events reach nodes in order', async () => {
    const a = await client(gateA);
    const cid = Number(await ask(a, Route.MY_CID));
    await ask(a, 2, '5001');
    await a.close();
    const probe = await client(gateA);
    const events = await until(
      'disconnect event',
      async () => {
        const e = await ask(probe, Route.EVENTS_OF, String(cid));
        return e.includes('disconnect') ? e : undefined;
      },
      5_000,
    );
    assert.equal(events, 'connect:0,reconnect:5001,disconnect:5001');
  });

  let hung = '';
  const killed = new Set<DuetProcess>();
  it('cluster - a hang node gets no new stateless traffic', async () => {
    const c = await client(gateA);
    hung = await ask(c, Route.SET_STATE, 'hang');
    try {
      // Let the registry change reach the gate, then check 60 requests avoid the hung node.
      await until(
        'gate stops choosing the hung node',
        async () => {
          for (let i = 0; i < 6; i++) if ((await ask(c, Route.WHICH_NODE)) === hung) return undefined;
          return true;
        },
        8_000,
      );
      for (let i = 0; i < 60; i++) assert.notEqual(await ask(c, Route.WHICH_NODE), hung);
    } finally {
      // The hung node stays hung: the tests after this one pick their victims among the working nodes.
    }
  });

  it('cluster - a killed node leaves the route table within 5 s', async () => {
    const c = await client(gateB);
    const victim = nodes.find((n) => n.nodeId !== hung) as DuetProcess;
    await victim.kill();
    killed.add(victim);
    const t0 = Date.now();
    await until(
      'no answer names the killed node and none is lost',
      async () => {
        for (let i = 0; i < 12; i++) {
          const id = await c
            .request(Route.WHICH_NODE, enc(''), { timeoutMs: 400 })
            .then((r) => dec(r.body))
            .catch(() => 'lost');
          if (id === victim.nodeId || id === 'lost') return undefined;
        }
        return true;
      },
      8_000,
    );
    const took = Date.now() - t0;
    assert.ok(took < 5_000, `ejected after ${took} ms`);
  });
  it('cluster - killing one nats-server: the other gate keeps serving, the orphaned gate reconnects', async () => {
    const b = await client(gateB);
    assert.equal(dec((await b.request(1, enc('before'))).body), 'before');
    // gate A and node 0 are on server 0.
    await nats.servers[0]?.kill();
    assert.equal(dec((await b.request(1, enc('during'))).body), 'during');
    await nats.servers[0]?.restart();
    const a = await until('gate A serves again after its server came back', async () => {
      const c = await client(gateA);
      const r = await c.request(1, enc('after'), { timeoutMs: 1_000 });
      return dec(r.body) === 'after' ? c : undefined;
    });
    assert.ok(a);
    for (const p of procs) if (!killed.has(p)) assert.equal(p.running, true, `process ${p.pid} still running`);
  });
});
