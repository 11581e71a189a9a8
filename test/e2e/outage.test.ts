/**
 * Outages under load at the gate (issue 10): one gate and one node as `duet` processes on a real nats-server and
 * redis-server, 20 logged-in clients sending requests. The nats-server restarts, then the redis-server: client
 * sessions stay open throughout, requests during the NATS outage go unanswered (never a crash), every session is
 * served again afterwards, and logins are answered with an error while Redis is down and work once it is back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const LOGIN = 2;
const WHOAMI = 3;
const USERS = 20;

const ask = (c: WsTestClient, route: number, body: string, ms = 1000): Promise<string | undefined> =>
  c.request(route, body, ms).then(
    (r) => r.text,
    () => undefined,
  );

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('outage - nats-server and redis-server restart under load', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  let node: DuetProcess;
  const clients: WsTestClient[] = [];
  const prefix = `out${randomUUID().slice(0, 8)}`;

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    const args = clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix });
    node = await startDuet(['node', ...args]);
    gate = await startDuet(['gate', ...args, '--set', 'network.ws.server.addr="127.0.0.1:0"']);
    for (let i = 0; i < USERS; i++) clients.push(await connect(gate.url as string));
    for (const [i, c] of clients.entries()) {
      const uid = String(9000 + i);
      assert.equal(await until(`login ${uid}`, () => ask(c, LOGIN, uid)), uid);
    }
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await Promise.all([gate?.stop(), node?.stop()].map((p) => p?.catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('outage - a nats-server restart: sessions stay open, unanswered meanwhile, all served again after', async () => {
    let stop = false;
    let answered = 0;
    // Load: every client keeps one echo in flight until told to stop (bounded by the test's own steps).
    const load = clients.map(async (c, i) => {
      for (let n = 0; !stop && n < 10_000; n++) if ((await ask(c, 1, `${i}:${n}`, 500)) !== undefined) answered++;
    });
    await until('load flowing', async () => (answered > 200 ? true : undefined));
    await nats.restart();
    const atRestart = answered;
    await until('answers again after the restart', async () => (answered > atRestart + 200 ? true : undefined));
    stop = true;
    await Promise.all(load);
    for (const c of clients) assert.equal(c.isOpen, true, 'the session survived the NATS outage');
    // Every session, stateful routes included, is served again.
    for (const [i, c] of clients.entries()) {
      assert.match(await until(`whoami ${i}`, () => ask(c, WHOAMI, '')), new RegExp(`^${9000 + i}@`));
    }
    assert.equal(gate.running && node.running, true, 'no process crashed');
  });

  it('outage - a redis-server outage: logins fail cleanly while it is down and work after; sessions stay open', async () => {
    const c = clients[0] as WsTestClient;
    await redis.kill();
    // bindGate fails with DUET_ERR_UNAVAILABLE at the gate: the login route answers with that error at once.
    assert.equal(await ask(c, LOGIN, '9100', 1500), 'error: login failed: DUET_ERR_UNAVAILABLE');
    // Stateless traffic does not need Redis.
    assert.equal(await ask(c, 1, 'still here', 1500), 'still here');
    await redis.restart();
    // Until the gate's locator has reconnected the login is still refused (answered); then it works.
    const back = async (): Promise<string | undefined> =>
      (await ask(c, LOGIN, '9100')) === '9100' ? '9100' : undefined;
    assert.equal(await until('login after Redis is back', back), '9100');
    for (const client of clients) assert.equal(client.isOpen, true);
    assert.equal(gate.running && node.running, true, 'no process crashed');
    assert.doesNotMatch(gate.output + node.output, /Unhandled|TypeError|RangeError/);
  });
});
