/**
 * Outages are reported and bounded (issue 20, case 7): a gate and a node as `duet` processes on a real nats-server
 * (bus and KV registry) and redis-server. The nats-server is killed and restarted after its registry entries have
 * expired: the gate keeps its route table (the node still beats), so requests are answered again as soon as NATS is
 * back, never dropped as an unknown route; both processes log the outage once when it starts and once when it ends,
 * and count it in /metrics. Then the same for a redis-server outage.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const ECHO = 1;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, 'g'))?.length ?? 0;

/** The sample of metric `name` whose labels include `label` (`op="x"`) from `url`; undefined when absent. */
async function metric(url: string, name: string, label: string): Promise<number | undefined> {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('outage report - NATS and Redis outages are bounded, logged once per transition, counted', {
  timeout: 120_000,
}, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  let node: DuetProcess;
  let gateMetrics: string;
  let nodeMetrics: string;
  let client: WsTestClient;
  const prefix = `or${randomUUID().slice(0, 8)}`;
  const metricsUrl = async (p: DuetProcess): Promise<string> =>
    `http://${(await p.waitFor(/"addr":"(127\.0\.0\.1:\d+)","msg":"metrics listening"/))[1]}/metrics`;

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    const args = [
      ...clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix, logLevel: 'info' }),
      '--set',
      'metrics.addr="127.0.0.1:0"',
    ];
    node = await startDuet(['node', ...args]);
    gate = await startDuet(['gate', ...args, '--set', 'network.ws.server.addr="127.0.0.1:0"']);
    [gateMetrics, nodeMetrics] = await Promise.all([metricsUrl(gate), metricsUrl(node)]);
    await gate.waitFor(new RegExp(`"nid":"${node.nodeId}","intervalMs":500,"msg":"watching node liveness"`));
    client = await connect(gate.url as string);
    assert.equal((await client.request(ECHO, 'hello', 2000)).text, 'hello');
  });

  after(async () => {
    await client?.close().catch(() => {});
    await Promise.all([gate?.stop(), node?.stop()].map((p) => p?.catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('outage report - nats killed for 3 s: route table kept, answered within 5 s of its return, logged and counted', async (t) => {
    await nats.kill();
    // Longer than the registry's entry TTL (3 × 500 ms): the registry is empty when NATS returns.
    await new Promise((r) => setTimeout(r, 3_000));
    await nats.restart();
    const back = Date.now();
    const answeredAt = await until(
      'an echo after the restart',
      async () => ((await client.request(ECHO, 'again', 500)).text === 'again' ? Date.now() : undefined),
      10_000,
    );
    t.diagnostic(`first answer ${answeredAt - back} ms after nats-server was back`);
    assert.ok(answeredAt - back < 5_000, `answered ${answeredAt - back} ms after the restart`);
    for (const p of [gate, node]) {
      await p.waitFor(/nats connection restored/);
      assert.equal(count(p.output, /nats connection lost/), 1, 'one line when it went down');
      assert.equal(count(p.output, /nats connection restored/), 1, 'one line when it came back');
    }
    // The route table was kept: no frame was dropped for want of a route.
    assert.equal(await metric(gateMetrics, 'duet_drops_total', 'reason="unknown_route"'), 0);
    assert.equal(await metric(gateMetrics, 'duet_bus_errors_total', 'op="nats disconnected"'), 1, 'gate');
    assert.equal(await metric(nodeMetrics, 'duet_bus_errors_total', 'op="nats disconnected"'), 1, 'node');
  });

  it('outage report - redis killed and restarted: logged once down and once up, counted', async () => {
    await redis.kill();
    await gate.waitFor(/redis connection lost/, 10_000);
    await redis.restart();
    await gate.waitFor(/redis connection restored/, 15_000);
    assert.equal(count(gate.output, /redis connection lost/), 1);
    assert.equal(count(gate.output, /redis connection restored/), 1);
    assert.equal(await metric(gateMetrics, 'duet_locator_errors_total', 'op="redis disconnected"'), 1);
    assert.equal((await client.request(ECHO, 'still', 2000)).text, 'still');
  });
});
