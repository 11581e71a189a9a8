import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { BusMessage, BusStatus, Subscription } from '../../src/bus/bus.js';
import { connectNatsBus, type NatsBus, type NatsBusOptions } from '../../src/bus/nats-bus.js';
import { liveNatsServers, type NatsCluster, pollUntil, startNats, startNatsCluster } from '../harness/nats.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const DEADLINE_MS = 10_000;

/** Reads a subscription in the background; `texts()` is what arrived so far. */
function collector(sub: Subscription): { items: BusMessage[]; texts(): string[]; done: Promise<void> } {
  const items: BusMessage[] = [];
  const done = (async () => {
    for await (const m of sub) items.push(m);
  })();
  return { items, texts: () => items.map((m) => dec.decode(m.data)), done };
}

function subjectPrefix(): string {
  return `cluster.${process.pid}.${randomBytes(6).toString('hex')}`;
}

/** Publishes probes until every collector has seen one: interest has crossed the routes. */
async function waitForFlow(
  publish: (data: Uint8Array) => void,
  sinks: ReturnType<typeof collector>[],
  tag: string,
): Promise<void> {
  const probe = `probe:${tag}`;
  await pollUntil(
    () => {
      publish(enc.encode(probe));
      return sinks.every((s) => s.texts().includes(probe));
    },
    DEADLINE_MS,
    `messages to flow (${tag})`,
  );
}

function hostPort(url: string): string {
  return new URL(url).host;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

describe('nats cluster', () => {
  let cluster: NatsCluster;
  const buses: NatsBus[] = [];
  const open = async (opts: NatsBusOptions): Promise<NatsBus> => {
    const b = await connectNatsBus({ reconnectTimeWaitMs: 100, ...opts });
    buses.push(b);
    return b;
  };

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    cluster = await startNatsCluster(3);
  });
  after(async () => {
    await Promise.all(buses.map((b) => b.drain()));
    await cluster[Symbol.asyncDispose]();
    process.off('unhandledRejection', onUnhandled);
    assert.equal(liveNatsServers(), 0, 'every nats-server this file started is stopped');
  });

  it('nats cluster - the harness routes every server to the other two', async () => {
    assert.equal(cluster.servers.length, 3);
    assert.equal(new Set(cluster.urls).size, 3);
    for (const s of cluster.servers) {
      const res = await fetch(`${s.monitorUrl}/routez`);
      const routez = (await res.json()) as { num_routes: number };
      assert.ok(routez.num_routes >= 2, `${s.name} has ${routez.num_routes} routes`);
    }
  });

  it('nats cluster - a publish on server A reaches subscribers on B and C in order', async () => {
    const [a, b, c] = cluster.urls as [string, string, string];
    const p = subjectPrefix();
    const busA = await open({ servers: [a] });
    const busB = await open({ servers: [b] });
    const busC = await open({ servers: [c] });
    assert.equal(busB.server, hostPort(b));
    const onB = collector(busB.subscribe(`${p}.fanout`));
    const onC = collector(busC.subscribe(`${p}.fanout`));
    await Promise.all([busB.flush(), busC.flush()]);
    await waitForFlow((d) => busA.publish(`${p}.fanout`, d), [onB, onC], 'a→b,c');
    const n = 500;
    for (let i = 0; i < n; i++) busA.publish(`${p}.fanout`, enc.encode(`m${i}`));
    const expected = Array.from({ length: n }, (_, i) => `m${i}`);
    const real = (s: ReturnType<typeof collector>): string[] => s.texts().filter((t) => !t.startsWith('probe:'));
    await pollUntil(() => real(onB).length >= n && real(onC).length >= n, DEADLINE_MS, 'all messages on B and C');
    assert.deepEqual(real(onB), expected);
    assert.deepEqual(real(onC), expected);
  });

  it('nats cluster - a bus on a killed server fails over to a survivor and messages flow again', async () => {
    const [a, b, c] = cluster.urls as [string, string, string];
    const serverB = cluster.servers[1];
    assert.ok(serverB);
    const p = subjectPrefix();
    const busA = await open({ servers: [a] });
    const busC = await open({ servers: [c] });
    // Connected first to B, with every URL so it has somewhere to go.
    const busX = await open({ servers: [b, a, c], noRandomize: true });
    assert.equal(busX.server, hostPort(b));
    const statuses: BusStatus[] = [];
    busX.onStatus((s) => statuses.push(s));

    const toX = collector(busX.subscribe(`${p}.to-x`));
    const fromX = collector(busC.subscribe(`${p}.from-x`));
    await Promise.all([busX.flush(), busC.flush()]);
    await waitForFlow((d) => busA.publish(`${p}.to-x`, d), [toX], 'before');
    await waitForFlow((d) => busX.publish(`${p}.from-x`, d), [fromX], 'before');

    await serverB.kill();
    await pollUntil(() => statuses.includes('connected'), DEADLINE_MS, 'the bus to reconnect');
    assert.deepEqual(statuses.slice(0, 2), ['reconnecting', 'connected']);
    assert.equal(busX.status, 'connected');
    assert.notEqual(busX.server, hostPort(b), 'reconnected to a survivor');
    assert.ok([hostPort(a), hostPort(c)].includes(busX.server), `on ${busX.server}`);

    // The subscription made before the outage receives again, and publishes from the moved bus get out.
    await waitForFlow((d) => busA.publish(`${p}.to-x`, d), [toX], 'after');
    await waitForFlow((d) => busX.publish(`${p}.from-x`, d), [fromX], 'after');
    const reply = busC.subscribe(`${p}.rpc`);
    const serving = (async () => {
      for await (const m of reply) m.respond(m.data);
    })();
    await busC.flush();
    const answer = await pollUntil(
      () => busX.request(`${p}.rpc`, enc.encode('still there?'), { timeoutMs: 1000 }).catch(() => undefined),
      DEADLINE_MS,
      'a request across the healed cluster',
    );
    assert.equal(dec.decode(answer), 'still there?');
    await reply.drain();
    await serving;
    assert.deepEqual(unhandled, [], 'no unhandled rejection');

    await serverB.restart();
    await cluster.waitFormed();
  });

  it('nats - restart of a single server: the bus reconnects and an old subscription receives again', async () => {
    await using server = await startNats();
    const bus = await open({ servers: [server.url] });
    const statuses: BusStatus[] = [];
    bus.onStatus((s) => statuses.push(s));
    const p = subjectPrefix();
    const sub = collector(bus.subscribe(`${p}.kept`));
    bus.publish(`${p}.kept`, enc.encode('before'));
    await pollUntil(() => sub.texts().includes('before'), DEADLINE_MS, 'the first message');

    await server.kill();
    await pollUntil(() => bus.status === 'reconnecting', DEADLINE_MS, 'the bus to notice the outage');
    // Publishing into the outage must not throw; nats.js buffers and replays after the reconnect, after the SUBs.
    assert.doesNotThrow(() => bus.publish(`${p}.kept`, enc.encode('during')));
    await server.restart();
    await pollUntil(() => bus.status === 'connected', DEADLINE_MS, 'the bus to reconnect');
    assert.deepEqual(statuses, ['reconnecting', 'connected']);

    bus.publish(`${p}.kept`, enc.encode('after'));
    await pollUntil(() => sub.texts().includes('after'), DEADLINE_MS, 'a message after the restart');
    assert.deepEqual(sub.texts(), ['before', 'during', 'after']);
    assert.equal(bus.dropped, 0);

    // A graceful restart (SIGTERM) heals the same way.
    await server.restart();
    await pollUntil(() => statuses.length >= 4 && bus.status === 'connected', DEADLINE_MS, 'a second reconnect');
    bus.publish(`${p}.kept`, enc.encode('again'));
    await pollUntil(() => sub.texts().includes('again'), DEADLINE_MS, 'a message after the second restart');
  });
});
