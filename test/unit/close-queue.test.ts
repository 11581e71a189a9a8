// Issue 20 case 8: closes are handled in time slices, so other work runs between them (the 15,000-session
// measurement is test/bench/crowd.ts; this checks the mechanism, without timing bounds).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloseQueue } from '../../src/network/close-queue.js';

/** Busy-waits about `ms`: a stand-in for one session's close work. */
function work(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
}

test('close queue - jobs run in order, later than push, and other callbacks run between slices', async () => {
  const q = new CloseQueue(() => assert.fail('no job throws'), 2);
  const ran: number[] = [];
  const between: number[] = [];
  for (let i = 0; i < 200; i++)
    q.push(() => {
      work(0.05);
      ran.push(i);
    });
  assert.equal(ran.length, 0, 'push never runs a job synchronously');
  assert.equal(q.size, 200);
  // a callback queued after all the closes (like another session's frame) must not wait for all of them
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      between.push(ran.length);
      if (q.size === 0) resolve();
      else setImmediate(tick);
    };
    setImmediate(tick);
  });
  assert.deepEqual(
    ran,
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.ok(
    between.some((n) => n > 0 && n < 200),
    `other callbacks ran while closes were pending: ${between.join(',')}`,
  );
});

test('close queue - a throwing job is reported and the rest still run; flush runs everything now', async () => {
  const errors: unknown[] = [];
  const q = new CloseQueue((err) => errors.push(err));
  const ran: string[] = [];
  q.push(() => ran.push('a'));
  q.push(() => {
    throw new Error('boom');
  });
  q.push(() => ran.push('c'));
  q.flush();
  assert.deepEqual(ran, ['a', 'c']);
  assert.equal((errors[0] as Error).message, 'boom');
  assert.equal(q.size, 0);
  // the queue keeps working after a flush
  q.push(() => ran.push('d'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, ['a', 'c', 'd']);
});
