import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedQueue } from '../../src/keyed-queue.js';

/** The keyed serial queue: in order per key, concurrent across keys, failures isolated, no memory once drained. */

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function queue(maxDepth = 0): { q: KeyedQueue<string>; errors: [unknown, string][] } {
  const errors: [unknown, string][] = [];
  const q = new KeyedQueue<string>({ onError: (err, key) => errors.push([err, key]), maxDepth });
  return { q, errors };
}

test('a task of an idle key runs synchronously, and the key leaves no entry behind', () => {
  const { q } = queue();
  const log: string[] = [];
  q.run('a', () => log.push('a1'));
  assert.deepEqual(log, ['a1']);
  assert.equal(q.size, 0);
  assert.equal(q.depth('a'), 0);
});

test('tasks of one key run in order, each after the previous one settled', async () => {
  const { q } = queue();
  const log: string[] = [];
  const gates = [deferred(), deferred(), deferred()];
  for (let i = 0; i < 3; i++) {
    q.run('k', async () => {
      log.push(`start ${i}`);
      await (gates[i] as ReturnType<typeof deferred>).promise;
      log.push(`end ${i}`);
    });
  }
  q.run('k', () => log.push('sync 3'));
  assert.deepEqual(log, ['start 0']);
  assert.equal(q.depth('k'), 4);
  assert.equal(q.waiting, 3);
  // Settling out of order changes nothing: 2 and 1 are not started before 0 ends.
  gates[2]?.resolve();
  gates[1]?.resolve();
  await tick();
  assert.deepEqual(log, ['start 0']);
  gates[0]?.resolve();
  await q.idle();
  assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2', 'sync 3']);
  assert.equal(q.size, 0);
  assert.equal(q.waiting, 0);
});

test('keys do not wait for each other', async () => {
  const { q } = queue();
  const log: string[] = [];
  const slow = deferred();
  q.run('slow', async () => {
    await slow.promise;
    log.push('slow done');
  });
  q.run('slow', () => log.push('slow 2'));
  q.run('fast', async () => {
    await tick();
    log.push('fast done');
  });
  q.run('other', () => log.push('other sync'));
  assert.deepEqual(log, ['other sync']);
  await tick();
  await tick();
  assert.deepEqual(log, ['other sync', 'fast done']);
  assert.equal(q.size, 1);
  assert.ok(q.isBusy('slow'));
  assert.ok(!q.isBusy('fast'));
  slow.resolve();
  await q.idle();
  assert.deepEqual(log, ['other sync', 'fast done', 'slow done', 'slow 2']);
});

test('a throw or a rejection is reported with its key, and the key goes on', async () => {
  const { q, errors } = queue();
  const log: string[] = [];
  const hold = deferred();
  q.run('k', () => hold.promise);
  q.run('k', () => {
    throw new Error('sync boom');
  });
  q.run('k', async () => {
    throw new Error('async boom');
  });
  q.run('k', () => log.push('after'));
  q.run('j', () => {
    throw new Error('idle-key boom');
  });
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.[1], 'j');
  hold.resolve();
  await q.idle();
  assert.deepEqual(log, ['after']);
  assert.deepEqual(
    errors.map(([e, k]) => [(e as Error).message, k]),
    [
      ['idle-key boom', 'j'],
      ['sync boom', 'k'],
      ['async boom', 'k'],
    ],
  );
  assert.equal(q.size, 0);
});

test('a task that queues on its own key synchronously runs that work after itself', async () => {
  const { q } = queue();
  const log: string[] = [];
  q.run('k', () => {
    q.run('k', () => log.push('inner'));
    log.push('outer');
  });
  assert.deepEqual(log, ['outer', 'inner']);
  assert.equal(q.size, 0);
});

test('hold: a fast path that ran the task itself still orders the key', async () => {
  const { q } = queue();
  const log: string[] = [];
  const d = deferred();
  q.hold('k', d.promise);
  q.run('k', () => log.push('next'));
  assert.deepEqual(log, []);
  d.reject(new Error('held failed'));
  await q.idle();
  assert.deepEqual(log, ['next']);
});

test('maxDepth bounds what waits behind one key; refusals are counted, other keys unaffected', async () => {
  const { q } = queue(2);
  const d = deferred();
  assert.equal(
    q.run('k', () => d.promise),
    true,
  );
  assert.equal(
    q.run('k', () => {}),
    true,
  );
  assert.equal(
    q.run('k', () => {}),
    true,
  );
  assert.equal(
    q.run('k', () => {}),
    false,
  );
  assert.equal(q.refused, 1);
  assert.equal(q.depth('k'), 3);
  assert.equal(
    q.run('other', () => {}),
    true,
  );
  d.resolve();
  await q.idle();
  assert.equal(q.depth('k'), 0);
});

test('no per-key memory survives: 10,000 keys each with pending work drain to an empty table', async () => {
  const { q } = queue();
  let done = 0;
  for (let i = 0; i < 10_000; i++) {
    const key = `key-${i}`;
    q.run(key, async () => {
      await tick();
    });
    q.run(key, () => {
      done++;
    });
  }
  assert.equal(q.size, 10_000);
  await q.idle();
  assert.equal(done, 10_000);
  assert.equal(q.size, 0);
  assert.equal(q.waiting, 0);
});

test('a long backlog on one key drains in order', async () => {
  const { q } = queue();
  const seen: number[] = [];
  const d = deferred();
  q.run('k', () => d.promise);
  for (let i = 0; i < 50_000; i++) q.run('k', () => seen.push(i));
  d.resolve();
  await q.idle();
  assert.equal(seen.length, 50_000);
  assert.ok(seen.every((v, i) => v === i));
});
