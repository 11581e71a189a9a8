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
async function cluster(t: Ctx, n: number, provide: (node: Node, i: number) => void): Promise<Node[]> {
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
  return nodes;
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
