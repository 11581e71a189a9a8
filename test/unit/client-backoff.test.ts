import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { backoffDelayMs, DEFAULT_RECONNECT_OPTIONS, reconnectOptions } from '../../src/client/backoff.js';
import { ConfigError } from '../../src/errors.js';

const o = { initialDelayMs: 100, maxDelayMs: 5_000, factor: 2, jitter: 0.5 };

test('client backoff - without jitter the delay doubles from initialDelayMs up to the cap', () => {
  const noJitter = { ...o, jitter: 0 };
  assert.deepEqual(
    Array.from({ length: 9 }, (_, i) => backoffDelayMs(i + 1, noJitter)),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  );
});

test('client backoff - jitter scales the capped delay into [d·(1−jitter), d]', () => {
  assert.equal(
    backoffDelayMs(3, o, () => 0),
    400,
    'random 0: the full delay',
  );
  assert.equal(
    backoffDelayMs(3, o, () => 0.5),
    300,
  );
  assert.ok(Math.abs(backoffDelayMs(3, o, () => 0.999_999) - 200.0002) < 1e-9, 'random → 1: half the delay');
  assert.equal(
    backoffDelayMs(10, o, () => 0),
    5000,
    'capped before jitter, so jitter never exceeds the cap',
  );
  assert.equal(
    backoffDelayMs(10, o, () => 0.5),
    3750,
  );
});

test('client backoff - every delay stays within [cap·(1−jitter), cap] bounds for any attempt and random', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 1, max: 10, noNaN: true }),
      (attempt, r, jitter, factor) => {
        const opts = { ...o, jitter, factor };
        const base = Math.min(o.maxDelayMs, o.initialDelayMs * factor ** (attempt - 1));
        const d = backoffDelayMs(attempt, opts, () => r);
        return Number.isFinite(d) && d <= base && d >= base * (1 - jitter) - 1e-9 && d <= o.maxDelayMs;
      },
    ),
  );
});

test('client backoff - huge attempt counts stay finite (no Infinity from the power)', () => {
  assert.equal(backoffDelayMs(1e6, { ...o, jitter: 0, factor: 10 }), 5000);
});

test('client backoff - Math.random jitter is spread over the interval', () => {
  const delays = Array.from({ length: 2_000 }, () => backoffDelayMs(20, o));
  assert.ok(Math.min(...delays) >= 2500 && Math.max(...delays) <= 5000);
  // 2,000 uniform draws: both halves of [2500, 5000] are hit (all in one half has probability 2^-1999).
  assert.ok(delays.some((d) => d < 3750) && delays.some((d) => d > 3750));
});

test('client backoff - options are validated with the field named', () => {
  assert.deepEqual(reconnectOptions(), { ...DEFAULT_RECONNECT_OPTIONS });
  const cases: [Record<string, unknown>, string][] = [
    [{ initialDelayMs: -1 }, 'reconnect.initialDelayMs'],
    [{ maxDelayMs: 10, initialDelayMs: 20 }, 'reconnect.maxDelayMs'],
    [{ factor: 0.5 }, 'reconnect.factor'],
    [{ jitter: 1.5 }, 'reconnect.jitter'],
    [{ jitter: Number.NaN }, 'reconnect.jitter'],
    [{ maxAttempts: 0 }, 'reconnect.maxAttempts'],
    [{ maxAttempts: 2.5 }, 'reconnect.maxAttempts'],
    [{ enabled: 'yes' }, 'reconnect.enabled'],
  ];
  for (const [input, path] of cases) {
    assert.throws(
      () => reconnectOptions(input),
      (e: unknown) => e instanceof ConfigError && e.path === path && e.message.startsWith(`${path} must be`),
      path,
    );
  }
  assert.equal(reconnectOptions({ maxAttempts: 3 }).maxAttempts, 3);
});
