/**
 * Services and cluster actors (issue 17) on real processes: two gates, three nodes and one `duet mesh` process, each
 * on a server of a 3-server NATS cluster, the Redis locator (actor placement) and the NATS KV registry.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import { DiagnosticRoute } from '../../src/demo/diagnostics.js';
import { ErrorCode } from '../../src/errors.js';
import { type CallSpec, MeshRoute } from '../fixtures/apps/mesh-app.js';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsCluster, startNatsCluster } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

const APP = new URL('../fixtures/apps/mesh-app.ts', import.meta.url).pathname;
const MESH_APP = new URL('../fixtures/apps/mesh-service.ts', import.meta.url).pathname;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('mesh and actors - 2 gates, 3 nodes and a mesh process over a 3-server NATS cluster', {
  timeout: 180_000,
}, () => {
  let nats: NatsCluster;
  let redis: RedisServer;
  const procs: DuetProcess[] = [];
  const clients: Client[] = [];
  let gates: DuetProcess[] = [];
  let nodes: DuetProcess[] = [];
  let mesh: DuetProcess;
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const common = (i: number): string[] =>
    clusterArgs({ natsUrl: nats.urls[i % 3] as string, redisAddr: `127.0.0.1:${redis.port}`, prefix });

  async function client(gate: DuetProcess): Promise<Client> {
    const c = new Client({
      url: gate.url as string,
      WebSocket: WebSocket as never,
      reconnect: { enabled: false },
      heartbeat: { intervalMs: 0 },
      requestTimeoutMs: 8_000,
    });
    await c.connect();
    clients.push(c);
    return c;
  }
  const ask = async (c: Client, route: number, body = '', timeoutMs?: number): Promise<string> =>
    dec((await c.request(route, enc(body), timeoutMs === undefined ? undefined : { timeoutMs })).body);
  const call = (c: Client, spec: CallSpec): Promise<string> => ask(c, MeshRoute.CALL, JSON.stringify(spec));

  before(async () => {
    [nats, redis] = await Promise.all([startNatsCluster(3, { jetstream: true }), startRedis()]);
    nodes = await Promise.all([0, 1, 2].map((i) => startDuet(['node', '--app', APP, ...common(i)])));
    mesh = await startDuet(['mesh', '--app', MESH_APP, ...common(2)]);
    gates = await Promise.all(
      [0, 1].map((i) =>
        // The client keeps its session through the host's crash and asks again (nodeLost = ignore; the default
        // close 4010 is covered by node-liveness.test.ts).
        startDuet([
          'gate',
          ...common(i),
          '--set',
          'network.ws.server.addr="127.0.0.1:0"',
          '--set',
          'cluster.gate.nodeLost="ignore"',
        ]),
      ),
    );
    procs.push(...nodes, mesh, ...gates);
    // Both gates route to all three nodes once their route tables list them.
    for (const g of gates) {
      const c = await client(g);
      const end = Date.now() + 15_000;
      const seen = new Set<string>();
      while (seen.size < 3 && Date.now() < end) seen.add((await ask(c, DiagnosticRoute.RPC)).split('->')[0] as string);
      assert.equal(seen.size, 3, 'every node reachable from the gate');
    }
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await Promise.all(procs.map((p) => p.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('rpc - diag.whoami is balanced over the three nodes; the mesh process serves its own service', async () => {
    const c = await client(gates[1] as DuetProcess);
    const answered = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const [caller, callee] = (await ask(c, DiagnosticRoute.RPC)).split('->');
      assert.ok(
        nodes.some((n) => n.nodeId === caller),
        `caller ${caller}`,
      );
      answered.set(callee as string, (answered.get(callee as string) ?? 0) + 1);
    }
    assert.deepEqual([...answered.keys()].sort(), nodes.map((n) => n.nodeId).sort(), 'every node answered');
    assert.match(await ask(c, DiagnosticRoute.RPC, 'inventory'), new RegExp(`->${mesh.nodeId}$`));
    assert.equal(await ask(c, DiagnosticRoute.RPC, 'nobody'), `error:${ErrorCode.NO_INSTANCE}`);
  });

  it('rpc - services are visible to NATS service tooling ($SRV PING and INFO)', async () => {
    const nc = await connect({ servers: [nats.urls[1] as string] });
    try {
      const ping = (await nc.request('$SRV.PING.inventory', '', { timeout: 2000 })).json<{
        id: string;
        name: string;
      }>();
      assert.deepEqual([ping.name, ping.id], ['inventory', mesh.nodeId]);
      const node = nodes[0] as DuetProcess;
      const info = (await nc.request(`$SRV.INFO.diag.${node.nodeId}`, '', { timeout: 2000 })).json<{
        endpoints: { name: string; subject: string; queue_group: string }[];
      }>();
      assert.deepEqual(info.endpoints, [
        { name: 'whoami', subject: `${prefix}.svc.diag.whoami`, queue_group: `${prefix}.svc.diag`, metadata: null },
      ]);
    } finally {
      await nc.close();
    }
  });

  it('rpc - a timeout and a cancellation reach the callee; the callee error keeps its code', async () => {
    const c = await client(gates[0] as DuetProcess);
    const abortedTotal = async (): Promise<number> => {
      let n = 0;
      for (const p of nodes) {
        const r = await call(c, { service: `node-${p.nodeId}`, method: 'aborted' });
        n += Number(r.split(':')[2]);
      }
      return n;
    };
    const before = await abortedTotal();
    assert.equal(
      await call(c, { service: 'calc', method: 'wait', body: '5000', timeoutMs: 200 }),
      `error:${ErrorCode.TIMEOUT}`,
    );
    assert.equal(
      await call(c, { service: 'calc', method: 'wait', body: '5000', timeoutMs: 5000, cancelAfterMs: 100 }),
      `error:${ErrorCode.CANCELLED}`,
    );
    const end = Date.now() + 5000;
    let total = before;
    while (total < before + 2 && Date.now() < end) total = await abortedTotal();
    assert.equal(total, before + 2, 'both callees saw their signal abort');
    assert.match(await call(c, { service: 'calc', method: 'wait', body: '1', timeoutMs: 2000 }), /^ok:.+:done$/);
    assert.equal(await call(c, { service: 'calc', method: 'fail' }), `error:${ErrorCode.REMOTE}:APP_FAIL`);
  });

  it('counter - concurrent calls through both gates give exactly 1..N, no duplicate', async () => {
    const cs = await Promise.all([0, 1, 0, 1, 0, 1].map((i) => client(gates[i] as DuetProcess)));
    const N = 120;
    const name = `c${randomUUID().slice(0, 6)}`;
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) => ask(cs[i % cs.length] as Client, DiagnosticRoute.COUNTER, name)),
    );
    const counts = answers.map(Number).sort((a, b) => a - b);
    assert.deepEqual(
      counts,
      Array.from({ length: N }, (_, i) => i + 1),
      answers.join(','),
    );
  });

  it('counter - when its host dies, the next message activates it on another node within 5 s', async (t) => {
    const c = await client(gates[0] as DuetProcess);
    const name = `h${randomUUID().slice(0, 6)}`;
    let reply = '';
    for (let i = 0; i < 20; i++) reply = await ask(c, MeshRoute.COUNT_AT, name);
    const [twenty, host] = reply.split('@');
    assert.equal(twenty, '20');
    const victim = nodes.find((n) => n.nodeId === host) as DuetProcess;
    assert.ok(victim, `host ${host} is one of the nodes`);
    await victim.kill();
    const killedAt = Date.now();
    let answer = '';
    while (Date.now() - killedAt < 10_000) {
      // A request the gate still sends to the dead node is lost: ask again with a short timeout.
      answer = await ask(c, MeshRoute.COUNT_AT, name, 1000).catch(() => '');
      if (/^\d+@/.test(answer)) break;
    }
    const tookMs = Date.now() - killedAt;
    const [count, newHost] = answer.split('@');
    assert.ok(newHost && newHost !== host, `moved to another node, got ${answer}`);
    // A fresh activation (its state lived in the dead process); requests that timed out above may have counted.
    assert.ok(Number(count) < 10, `count restarted, got ${count}`);
    t.diagnostic(`counter/${name} answered from ${newHost} ${tookMs} ms after its host was killed`);
    assert.ok(tookMs < 5000, `replaced after ${tookMs} ms`);
  });
});
