// Issue 20 case 8: gate-wide sweeps visit sessions in slices; other callbacks run between them (no timing bounds).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlicedWalk } from '../../src/time-slice.js';

function work(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
}

test('sliced walk - visits every item once in order, yielding to other callbacks between slices', async () => {
  const walk = new SlicedWalk<number>(2);
  const seen: number[] = [];
  const between: number[] = [];
  walk.start(
    Array.from({ length: 500 }, (_, i) => i),
    (i) => {
      work(0.02);
      seen.push(i);
    },
  );
  assert.ok(seen.length > 0 && seen.length < 500, `the first slice runs now, not all of it (${seen.length})`);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      between.push(seen.length);
      if (walk.isRunning) setImmediate(tick);
      else resolve();
    };
    setImmediate(tick);
  });
  assert.deepEqual(
    seen,
    Array.from({ length: 500 }, (_, i) => i),
  );
  assert.ok(between.some((n) => n < 500));
});

test('sliced walk - a new start finishes the running walk first; cancel drops the rest; a throw ends the walk', () => {
  const walk = new SlicedWalk<string>(0);
  const seen: string[] = [];
  walk.start(['a1', 'a2', 'a3', ...Array.from({ length: 100 }, () => 'a')], (x) => seen.push(x));
  walk.start(['b1'], (x) => seen.push(x));
  assert.equal(seen.filter((x) => x.startsWith('a')).length, 103, 'every item of the first walk was visited');
  assert.equal(seen.indexOf('b1'), 103);
  walk.start(
    Array.from({ length: 100 }, () => 'c'),
    (x) => seen.push(x),
  );
  walk.cancel();
  assert.equal(walk.isRunning, false);
  const cs = seen.filter((x) => x === 'c').length;
  assert.ok(cs >= 1 && cs < 100, `cancelled after the first slice (${cs})`);
  assert.throws(() =>
    walk.start([1, 2].map(String), () => {
      throw new Error('boom');
    }),
  );
  assert.equal(walk.isRunning, false);
});
