import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SessionKind } from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { CloseCode } from '../../src/errors.js';
import { Gate } from '../../src/gate/gate.js';
import { RedisLocator } from '../../src/locate/redis-locator.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * Bindings survive a Redis restart (issue 20 case 4): two gates and a node in this process, each with its own
 * RedisLocator on one real redis-server (no persistence), on a memory bus. Redis is killed and started again empty:
 * a login meanwhile is answered with an error at once; afterwards the gates and the node re-assert what they hold,
 * so push-by-uid reaches the user again and a login on the other gate displaces the first session (4003).
 */

const LOGIN = 2;
const PUSH_ROUTE = 9;

async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: err });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('redis rebind - bindings are re-asserted after a Redis restart', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  const locators: RedisLocator[] = [];
  const bus = new MemoryBus();
  const registry = new MemoryRegistry();
  const codec = new PacketCodec();
  let node: Node;
  let gateA: Gate;
  let gateB: Gate;
  const clients: WsTestClient[] = [];
  const prefix = `rebind:${process.pid}`;

  const locator = (): RedisLocator => {
    const l = new RedisLocator({ addrs: [redis.addr], prefix, reconnectMaxDelayMs: 200 });
    locators.push(l);
    return l;
  };
  const gate = async (id: string): Promise<Gate> => {
    const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: codec.maxFrameBytes });
    const g = new Gate({ id, bus, locator: locator(), registry, transport, codec, heartbeatIntervalMs: 0 });
    await g.start();
    return g;
  };
  const client = async (g: Gate): Promise<WsTestClient> => {
    const c = await WsTestClient.connect(`ws://127.0.0.1:${g.address?.port}/`);
    clients.push(c);
    return c;
  };
  const push = (uid: number, text: string): Promise<number> =>
    node.proxy.push({ kind: SessionKind.USER, target: uid, route: PUSH_ROUTE, body: text, ack: true });
  const pushed = (c: WsTestClient, text: string) =>
    c.next({
      timeoutMs: 3000,
      match: (r) => r.packet?.kind === 'data' && Buffer.from(r.packet.body).toString() === text,
    });

  before(async () => {
    redis = await startRedis();
    node = new Node({ id: 'node-1', name: 'game', bus, locator: locator(), registry, codec });
    registerDiagnostics(node);
    await node.start();
    gateA = await gate('gate-a');
    gateB = await gate('gate-b');
    await Promise.all(locators.map((l) => l.ready()));
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    await gateA?.stop({ graceful: false });
    await gateB?.stop({ graceful: false });
    await node?.stop();
    for (const l of locators) await l[Symbol.asyncDispose]();
    await bus.drain();
    await registry[Symbol.asyncDispose]();
    await redis?.[Symbol.asyncDispose]();
  });

  it('redis rebind - outage: login answered with an error; restart: push-by-uid works and a second-gate login displaces (4003)', async () => {
    const first = await client(gateA);
    assert.equal((await first.request(LOGIN, '7001')).text, '7001');
    assert.equal(await push(7001, 'before'), 1);
    await pushed(first, 'before');

    await redis.kill();
    const during = await client(gateA);
    // Answered, not silent: the gate's bind fails at once with DUET_ERR_UNAVAILABLE and the login route says so.
    const t0 = Date.now();
    const refused = await eventually('an error answer to a login during the outage', () =>
      during.request(LOGIN, '7002', 2000),
    );
    assert.equal(refused.text, 'error: login failed: DUET_ERR_UNAVAILABLE');
    assert.ok(Date.now() - t0 < 5000, 'the login failed within 5 s');
    assert.equal(during.isOpen, true);

    await redis.restart();
    // Each locator reconnects on its own backoff; until then its logins are refused (as above), not lost.
    await Promise.all(locators.map((l) => l.ready(undefined, 10_000)));
    // Push-by-uid needs the gate's re-asserted binding; whoami-style routing needs the node's.
    assert.equal(await eventually('push-by-uid after the restart', () => push(7001, 'after')), 1);
    await pushed(first, 'after');
    await eventually('the node binding re-asserted', async () => {
      assert.equal(await node.proxy.locateNode(7001), 'node-1');
    });

    const second = await client(gateB);
    assert.equal((await second.request(LOGIN, '7001')).text, '7001');
    assert.equal((await first.waitClose(5000)).code, CloseCode.DISPLACED);
    assert.equal(await eventually('push to the new session', () => push(7001, 'new')), 1);
    await pushed(second, 'new');
    assert.equal(gateA.sessions.byUid(7001), undefined, 'only one session holds the uid');
  });
});
