import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { ErrorCode } from '../../src/errors.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import type { Actor } from '../../src/node/actors/actor.js';
import { Mailbox } from '../../src/node/actors/mailbox.js';
import { Node } from '../../src/node/node.js';
import type { ActorSettings } from '../../src/node/runtime.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';

type Ctx = { after: (fn: () => unknown) => void };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const codeOf = (err: unknown): unknown => (err as { code?: unknown }).code;

async function cluster(t: Ctx, n: number, setup: (node: Node) => void, actors?: ActorSettings) {
  const bus = new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const node = new Node({ id: `n${i}`, bus, locator, registry, codec: new PacketCodec(), actors });
    setup(node);
    await node.start();
    nodes.push(node);
  }
  t.after(async () => {
    for (const node of nodes) await node.stop();
    await bus.drain();
  });
  return { nodes, locator };
}

/** The counter of the diagnostic route 7: add one, wait 1 ms (other messages must wait too), answer the count. */
function defineCounter(node: Node): void {
  node.actors.define('counter', (actor) => {
    let count = 0;
    actor.handle('add', async () => {
      const next = count + 1;
      await sleep(1);
      count = next;
      return String(count);
    });
    return undefined;
  });
}

test('mailbox - one letter at a time across awaits, bounded', async () => {
  const box = new Mailbox(2, 'test');
  const order: string[] = [];
  const job = (name: string) => async () => {
    order.push(`${name}+`);
    await sleep(5);
    order.push(`${name}-`);
    return name;
  };
  const a = box.post(job('a'));
  const b = box.post(job('b'));
  const c = box.post(job('c'));
  await assert.rejects(box.post(job('d')), (err) => codeOf(err) === ErrorCode.MAILBOX_FULL);
  assert.deepEqual(await Promise.all([a, b, c]), ['a', 'b', 'c']);
  assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  await box.close();
  await assert.rejects(box.post(job('e')), (err) => codeOf(err) === ErrorCode.CLOSED);
});

test('actors - spawn, look-up, invoke in order, timers owned by the actor, kill', async (t) => {
  const { nodes } = await cluster(t, 1, () => {});
  const node = nodes[0] as Node;
  const log: string[] = [];
  let destroyed = 0;
  const actor = await node.actors.spawn(
    'room',
    'r1',
    (a: Actor, greeting: string) => ({
      init: () => log.push(`init ${a.key} ${greeting}`),
      destroy: () => destroyed++,
    }),
    'hello',
  );
  assert.equal(node.actors.get('room', 'r1'), actor);
  assert.deepEqual(node.actors.list('room'), [actor]);
  await assert.rejects(
    node.actors.spawn('room', 'r1', () => undefined),
    (err) => codeOf(err) === ErrorCode.ILLEGAL_OPERATION,
  );
  let inside = 0;
  let maxInside = 0;
  const work = async (i: number) => {
    inside++;
    maxInside = Math.max(maxInside, inside);
    await sleep(1);
    inside--;
    return i;
  };
  assert.deepEqual(await Promise.all([0, 1, 2, 3].map((i) => actor.invoke(() => work(i)))), [0, 1, 2, 3]);
  assert.equal(maxInside, 1, 'invoke runs one function at a time');

  let fired = 0;
  actor.afterInvoke(5, () => fired++);
  actor.afterFunc(5, () => fired++);
  actor.afterInvoke(60_000, () => fired++);
  assert.equal(actor.timers, 3);
  await sleep(30);
  assert.equal(fired, 2);
  assert.equal(actor.timers, 1);
  assert.equal(await node.actors.kill('room', 'r1'), true);
  assert.equal(actor.timers, 0, 'killing the actor stops its timers');
  assert.equal(actor.state, 'dead');
  assert.equal(destroyed, 1);
  assert.equal(node.actors.get('room', 'r1'), undefined);
  assert.equal(await node.actors.kill('room', 'r1'), false);
  assert.deepEqual(log, ['init room/r1 hello']);
  await assert.rejects(
    actor.invoke(() => 1),
    (err) => codeOf(err) === ErrorCode.CLOSED,
  );
  assert.throws(
    () => actor.afterFunc(1, () => {}),
    (err) => codeOf(err) === ErrorCode.CLOSED,
  );
});

test('cluster actors - concurrent calls from every node reach one activation: exactly 1..N', async (t) => {
  const { nodes, locator } = await cluster(t, 3, defineCounter);
  const N = 60;
  const replies = await Promise.all(
    Array.from({ length: N }, (_, i) => (nodes[i % 3] as Node).actors.call('counter', 'c1', 'add')),
  );
  const counts = replies.map((r) => Number(r.text())).sort((a, b) => a - b);
  assert.deepEqual(
    counts,
    Array.from({ length: N }, (_, i) => i + 1),
  );
  const activations = nodes.reduce((n, node) => n + node.actors.cluster.counters.activations, 0);
  assert.equal(activations, 1, 'one activation in the whole cluster');
  const owner = await locator.locateActor('counter/c1');
  assert.ok(owner);
  assert.equal(
    nodes
      .filter((n) => n.actors.get('counter', 'c1'))
      .map((n) => n.id)
      .join(),
    owner.nid,
  );
  assert.ok(replies.every((r) => r.from === owner.nid));
});

test('cluster actors - unknown kind, unknown method and handler errors are typed', async (t) => {
  const { nodes } = await cluster(t, 2, (node) => {
    defineCounter(node);
    node.actors.define('bad', (actor) => {
      actor.handle('fail', () => {
        throw Object.assign(new Error('no'), { code: 'APP_NO' });
      });
      return undefined;
    });
  });
  const [a, b] = nodes as [Node, Node];
  await assert.rejects(b.actors.call('nothing', 'x', 'add'), (err) => codeOf(err) === ErrorCode.ACTOR_NOT_FOUND);
  await a.actors.call('bad', 'b1', 'fail').catch(() => {});
  await assert.rejects(b.actors.call('bad', 'b1', 'fail'), (err) => {
    return codeOf(err) === ErrorCode.REMOTE && (err as { remoteCode?: string }).remoteCode === 'APP_NO';
  });
  await assert.rejects(b.actors.call('counter', 'c', 'nope'), (err) => codeOf(err) === ErrorCode.ROUTE_NOT_FOUND);
  await assert.rejects(
    b.actors.call('counter', 'bad\nid', 'add'),
    (err) => codeOf(err) === ErrorCode.ILLEGAL_OPERATION,
  );
});

test('cluster actors - an idle actor is deactivated and its placement freed; the next call activates it again', async (t) => {
  const { nodes, locator } = await cluster(t, 2, defineCounter, { idleMs: 60 });
  const [a, b] = nodes as [Node, Node];
  assert.equal((await a.actors.call('counter', 'idle', 'add')).text(), '1');
  assert.ok(a.actors.get('counter', 'idle'));
  const deadline = Date.now() + 5000;
  while ((a.actors.get('counter', 'idle') || (await locator.locateActor('counter/idle'))) && Date.now() < deadline)
    await sleep(20);
  assert.equal(a.actors.get('counter', 'idle'), undefined);
  assert.equal(await locator.locateActor('counter/idle'), undefined);
  assert.equal(a.actors.cluster.counters.deactivations, 1);
  assert.equal((await b.actors.call('counter', 'idle', 'add')).text(), '1', 'a fresh activation');
  assert.ok(b.actors.get('counter', 'idle'), 'activated on the calling node');
});

test('cluster actors - a stopped host hands its actors over: the next call activates elsewhere', async (t) => {
  const { nodes } = await cluster(t, 2, defineCounter);
  const [a, b] = nodes as [Node, Node];
  assert.equal((await a.actors.call('counter', 'h', 'add')).text(), '1');
  assert.equal((await b.actors.call('counter', 'h', 'add')).text(), '2');
  await a.stop();
  assert.equal((await b.actors.call('counter', 'h', 'add')).text(), '1');
  assert.ok(b.actors.get('counter', 'h'));
});

test('cluster actors - a node that cannot renew its lease stops its actors before another node takes them', async (t) => {
  const bus = new MemoryBus();
  const shared = new MemoryLocator();
  let aCut = false;
  // Node a's view of the shared locator: its lease renewals fail while `aCut` (a Redis it cannot reach).
  const aLocator = new Proxy(shared, {
    get(target, prop, receiver) {
      if (prop === 'renewLease' && aCut) return () => Promise.reject(new Error('redis unreachable'));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const registry = new MemoryRegistry();
  const settings = { leaseTtlMs: 300 };
  const a = new Node({ id: 'a', bus, locator: aLocator, registry, codec: new PacketCodec(), actors: settings });
  const b = new Node({ id: 'b', bus, locator: shared, registry, codec: new PacketCodec(), actors: settings });
  defineCounter(a);
  defineCounter(b);
  await a.start();
  await b.start();
  t.after(async () => {
    await b.stop();
    await a.stop();
    await bus.drain();
  });
  assert.equal((await a.actors.call('counter', 'f', 'add')).from, 'a');
  aCut = true;
  let both = false;
  const watch = setInterval(() => {
    if (a.actors.get('counter', 'f') && b.actors.get('counter', 'f')) both = true;
  }, 5);
  t.after(() => clearInterval(watch));
  const deadline = Date.now() + 5000;
  let from = 'a';
  while (from !== 'b' && Date.now() < deadline) {
    from = (await b.actors.call('counter', 'f', 'add', undefined, { timeoutMs: 2000 })).from;
  }
  assert.equal(from, 'b', 'b took the actor over');
  assert.equal(a.actors.get('counter', 'f'), undefined, 'a stopped its copy');
  assert.ok(a.actors.cluster.counters.fenced >= 1);
  assert.ok(a.actors.cluster.counters.leaseErrors >= 1);
  assert.equal(both, false, 'never active on both nodes at once');
});
