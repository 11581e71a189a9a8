/**
 * Resumable sessions on the NATS cluster harness (issue 11): two `duet gate` processes with resume on, on different
 * servers of a 3-server NATS cluster, a node, a real redis-server; the client's connection is cut by a TCP relay
 * while 1,000 numbered pushes are under way, and it comes back through the other gate.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import { Route } from '../fixtures/apps/cluster-app.js';
import { clusterArgs } from '../harness/cluster-args.js';
import { type CutProxy, startCutProxy } from '../harness/cut-proxy.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { until } from '../harness/embedded.js';
import { type NatsCluster, startNatsCluster } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

const APP = new URL('../fixtures/apps/cluster-app.ts', import.meta.url).pathname;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const portOf = (url: string | undefined): number => Number(new URL(url ?? '').port);

describe('resume - across gates on a NATS cluster', { timeout: 120_000 }, () => {
  let nats: NatsCluster;
  let redis: RedisServer;
  let proxy: CutProxy;
  const procs: DuetProcess[] = [];
  let gateA: DuetProcess;
  let gateB: DuetProcess;
  const prefix = `r${randomUUID().slice(0, 8)}`;

  const common = (natsUrl: string): string[] => clusterArgs({ natsUrl, redisAddr: `127.0.0.1:${redis.port}`, prefix });
  const gateArgs = (i: number): string[] => [
    'gate',
    ...common(nats.urls[i] as string),
    '--set',
    'network.ws.server.addr="127.0.0.1:0"',
    '--set',
    'session.resume.window="10s"',
    '--set',
    'session.resume.bufferMessages=2000',
    '--set',
    'session.resume.secret="shared-test-secret-0123456789abcdef"',
  ];

  before(async () => {
    [nats, redis] = await Promise.all([startNatsCluster(3, { jetstream: true }), startRedis()]);
    const node = await startDuet(['node', '--app', APP, ...common(nats.urls[2] as string)]);
    [gateA, gateB] = await Promise.all([startDuet(gateArgs(0)), startDuet(gateArgs(1))]);
    procs.push(node, gateA, gateB);
    proxy = await startCutProxy(portOf(gateA.url));
  });

  after(async () => {
    await proxy?.[Symbol.asyncDispose]();
    await Promise.all(procs.map((p) => p.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('resume - 1,000 pushes arrive in order across a cut and a move to the other gate; one resume, no disconnect', async () => {
    const c = new Client({
      url: proxy.url,
      WebSocket: WebSocket as never,
      heartbeat: { intervalMs: 0 },
      reconnect: { initialDelayMs: 30, maxDelayMs: 200, jitter: 0 },
      requestTimeoutMs: 5000,
    });
    const numbers: number[] = [];
    const events: string[] = [];
    c.on('push', (p) => {
      if (p.route === Route.NUMBERED) numbers.push(Number(dec(p.body)));
    });
    c.on('resumed', (r) => events.push(`resumed:${r.replayed}`));
    c.on('resumeFailed', (r) => events.push(`failed:${r.error}`));
    try {
      await c.connect();
      // Stateless routes may not be routable for a moment after start-up: retry the login.
      await until(() => true, 'start');
      let logged = '';
      for (let i = 0; i < 50 && logged !== '7001'; i++) {
        logged = await c
          .request(2, enc('7001'), { timeoutMs: 300 })
          .then((r) => dec(r.body))
          .catch(() => '');
      }
      assert.equal(logged, '7001');
      c.send(Route.BURST, enc('1000'));
      await until(() => numbers.length >= 150, 'some pushes before the cut');
      proxy.upstream = portOf(gateB.url);
      proxy.cutAll();
      await until(
        () => numbers.length >= 1000,
        `all 1,000 pushes (have ${numbers.length}, events ${events.join(' ')})`,
        20_000,
      ).catch((err) => {
        throw new Error(`${err.message}: have ${numbers.length} events ${events.join(' ')} last ${numbers.slice(-3)}`);
      });
      assert.deepEqual(
        numbers,
        Array.from({ length: 1000 }, (_, i) => i + 1),
      );
      assert.match(events[0] ?? '', /^resumed:/);
      let seen = '';
      for (let i = 0; i < 30 && seen !== 'resume'; i++) {
        seen = dec((await c.request(Route.USER_EVENTS, enc('7001'))).body);
        if (seen !== 'resume') await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(seen, 'resume', 'exactly one resume event and no disconnect');
      assert.match(dec((await c.request(3)).body), /^7001@/);
    } finally {
      await c.close();
    }
  });
});
