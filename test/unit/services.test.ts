import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { ErrorCode, RemoteError } from '../../src/errors.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { Node } from '../../src/node/node.js';
import { ServiceError } from '../../src/node/services/types.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';

type Ctx = { after: (fn: () => unknown) => void };

/** `n` nodes on one memory bus; `provide` runs on each before start. */
async function cluster(
  t: Ctx,
  n: number,
  provide: (node: Node, i: number) => void,
): Promise<Node[] & { bus: MemoryBus }> {
  const bus = new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  const codec = new PacketCodec();
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const node = new Node({ id: `n${i}`, bus, locator, registry, codec, callTimeoutMs: 2000 });
    provide(node, i);
    await node.start();
    nodes.push(node);
  }
  t.after(async () => {
    for (const node of nodes) await node.stop();
    await bus.drain();
  });
  return Object.assign(nodes, { bus });
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown }).code;
}

test('services - calls are balanced over every instance and answered with the codec', async (t) => {
  const nodes = await cluster(t, 4, (node, i) => {
    if (i === 0) return; // the caller provides nothing
    node.services.provide('math', {
      add: (call) => {
        const { a, b } = call.parse<{ a: number; b: number }>();
        return { sum: a + b, by: node.id };
      },
    });
  });
  const caller = nodes[0] as Node;
  const seen = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const reply = await caller.services.call('math', 'add', { a: i, b: 1 });
    const r = reply.parse<{ sum: number; by: string }>();
    assert.equal(r.sum, i + 1);
    assert.equal(r.by, reply.from);
    seen.set(r.by, (seen.get(r.by) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['n1', 'n2', 'n3']);
  for (const c of seen.values()) assert.equal(c, 10);
  assert.equal(caller.services.counters.calls, 30);
  assert.equal(caller.services.counters.callErrors, 0);
});

test('services - no instance, unknown method and the callee error are typed', async (t) => {
  const nodes = await cluster(t, 2, (node, i) => {
    if (i === 1)
      node.services.provide('bank', {
        withdraw: () => {
          throw new ServiceError('INSUFFICIENT_FUNDS', 'balance is 3');
        },
        crash: () => {
          throw new Error('boom');
        },
      });
  });
  const caller = nodes[0] as Node;
  await assert.rejects(caller.services.call('nobody', 'x'), (err) => codeOf(err) === ErrorCode.NO_INSTANCE);
  await assert.rejects(caller.services.call('bank', 'withdraw', 'raw'), (err) => {
    assert.ok(err instanceof RemoteError);
    assert.equal(err.code, ErrorCode.REMOTE);
    assert.equal(err.remoteCode, 'INSUFFICIENT_FUNDS');
    assert.equal(err.remoteMessage, 'balance is 3');
    return true;
  });
  await assert.rejects(
    caller.services.call('bank', 'crash'),
    (err) => err instanceof RemoteError && err.remoteCode === ErrorCode.INTERNAL && err.remoteMessage === 'boom',
  );
  await assert.rejects(
    caller.services.call('bank', 'nope'),
    (err) => err instanceof RemoteError && err.remoteCode === ErrorCode.ROUTE_NOT_FOUND,
  );
  assert.equal(caller.services.counters.callErrors, 4);
});

test('services - the timeout reaches the callee as its deadline and aborts its signal', async (t) => {
  let sawDeadline = 0;
  let sentAt = 0;
  let aborted: unknown;
  const done = deferred<void>();
  const nodes = await cluster(t, 2, (node, i) => {
    if (i === 1)
      node.services.provide('slow', {
        wait: async (call) => {
          sawDeadline = call.deadline;
          call.signal.addEventListener('abort', () => {
            aborted = call.signal.reason;
            done.resolve();
          });
          await new Promise<void>((r) => {
            const timer = setTimeout(r, 1000);
            call.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              r();
            });
          });
          return 'late';
        },
      });
  });
  sentAt = Date.now();
  await assert.rejects(
    (nodes[0] as Node).services.call('slow', 'wait', undefined, { timeoutMs: 150 }),
    (err) => codeOf(err) === ErrorCode.TIMEOUT,
  );
  await done.promise;
  assert.ok(sawDeadline >= sentAt + 100 && sawDeadline <= sentAt + 400, `deadline ${sawDeadline - sentAt} ms`);
  assert.equal(codeOf(aborted), ErrorCode.TIMEOUT);
});

test('services - cancelling a call rejects it and aborts the callee', async (t) => {
  const started = deferred<void>();
  const calleeAborted = deferred<unknown>();
  const nodes = await cluster(t, 2, (node, i) => {
    if (i === 1)
      node.services.provide('job', {
        run: (call) =>
          new Promise((_, reject) => {
            call.signal.addEventListener('abort', () => {
              calleeAborted.resolve(call.signal.reason);
              reject(call.signal.reason);
            });
            started.resolve();
          }),
      });
  });
  const ac = new AbortController();
  const pending = (nodes[0] as Node).services.call('job', 'run', undefined, { timeoutMs: 5000, signal: ac.signal });
  await started.promise;
  ac.abort();
  await assert.rejects(pending, (err) => codeOf(err) === ErrorCode.CANCELLED);
  assert.equal(codeOf(await calleeAborted.promise), ErrorCode.CANCELLED);
  assert.equal((nodes[1] as Node).services.counters.cancelled, 1);
});

test('services - provide after start and bad names are refused', async (t) => {
  const nodes = await cluster(t, 1, () => {});
  const node = nodes[0] as Node;
  assert.throws(
    () => node.services.provide('late', { m: () => 1 }),
    (err) => codeOf(err) === ErrorCode.ROUTE_REGISTERED,
  );
  await assert.rejects(node.services.call('a.b', 'm'), /service name/);
});

test('services - NATS service discovery ($SRV PING, INFO, STATS) answers for every instance', async (t) => {
  const nodes = await cluster(t, 3, (node, i) => {
    if (i > 0)
      node.services.provide(
        'math',
        {
          add: () => 'x',
          fail: () => {
            throw new ServiceError('NOPE', 'no');
          },
        },
        { version: '2.1.0', description: 'adds' },
      );
  });
  const caller = nodes[0] as Node;
  for (let i = 0; i < 4; i++) await caller.services.call('math', 'add');
  await caller.services.call('math', 'fail').catch(() => {});
  const ask = async (subject: string) => {
    const raw = await nodes.bus.request(subject, new Uint8Array(0), { timeoutMs: 1000 });
    return JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
  };
  const ping = await ask('$SRV.PING.math.n1');
  assert.deepEqual(ping, {
    name: 'math',
    id: 'n1',
    version: '2.1.0',
    metadata: {},
    type: 'io.nats.micro.v1.ping_response',
  });
  const info = await ask('$SRV.INFO.math.n2');
  assert.equal(info.type, 'io.nats.micro.v1.info_response');
  assert.equal(info.description, 'adds');
  assert.deepEqual(
    (info.endpoints as { name: string; subject: string; queue_group: string }[]).map((e) => [
      e.name,
      e.subject,
      e.queue_group,
    ]),
    [
      ['add', 'duet.svc.math.add', 'duet.svc.math'],
      ['fail', 'duet.svc.math.fail', 'duet.svc.math'],
    ],
  );
  let requests = 0;
  let errors = 0;
  for (const id of ['n1', 'n2']) {
    const stats = await ask(`$SRV.STATS.math.${id}`);
    assert.equal(stats.type, 'io.nats.micro.v1.stats_response');
    for (const e of stats.endpoints as { num_requests: number; num_errors: number; last_error: string }[]) {
      requests += e.num_requests;
      errors += e.num_errors;
      if (e.num_errors > 0) assert.equal(e.last_error, 'NOPE: no');
    }
  }
  assert.equal(requests, 5);
  assert.equal(errors, 1);
});
