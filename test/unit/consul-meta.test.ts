import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import {
  decodeMeta,
  decodeRoutes,
  encodeMeta,
  encodeRoutes,
  META_VALUE_MAX_CHARS,
} from '../../src/registry/consul-meta.js';
import type { RouteInfo, ServiceInstance } from '../../src/registry/registry.js';
import { routeFromFlags } from '../../src/registry/registry.js';

function instance(over: Partial<ServiceInstance> = {}): ServiceInstance {
  return {
    id: 'n1',
    kind: 'node',
    name: 'game',
    state: 'work',
    endpoint: 'bus://duet/node/n1',
    weight: 1,
    routes: [],
    events: [],
    metadata: {},
    ...over,
  };
}

describe('consul-meta', () => {
  test("consul-meta - encodes due v2.4's route string 1-0,2-2,3-1,4-6", () => {
    const routes = [routeFromFlags(1, 0), routeFromFlags(2, 2), routeFromFlags(3, 1), routeFromFlags(4, 6)];
    assert.deepEqual(encodeRoutes(routes), { 'routes-0': '1-0,2-2,3-1,4-6' });
    assert.deepEqual(decodeRoutes({ 'routes-0': '1-0,2-2,3-1,4-6' }), routes);
  });

  test('consul-meta - flags 1 internal, 2 stateful, 4 authorized', () => {
    assert.deepEqual(encodeRoutes([{ id: 7, internal: true, stateful: false, authorized: false }]), {
      'routes-0': '7-1',
    });
    assert.deepEqual(encodeRoutes([{ id: 7, internal: false, stateful: true, authorized: false }]), {
      'routes-0': '7-2',
    });
    assert.deepEqual(encodeRoutes([{ id: 7, internal: false, stateful: false, authorized: true }]), {
      'routes-0': '7-4',
    });
    assert.deepEqual(decodeRoutes({ 'routes-0': '7-7' }), [
      { id: 7, internal: true, stateful: true, authorized: true },
    ]);
  });

  test('consul-meta - a value is split before it would pass 512 chars, as due does', () => {
    // "10000-0" is 7 chars; with commas 64 items take 64*7+63 = 511 chars, the 65th would make 519.
    const routes = Array.from({ length: 130 }, (_, i) => routeFromFlags(10000 + i, 0));
    const meta = encodeRoutes(routes);
    assert.deepEqual(Object.keys(meta), ['routes-0', 'routes-1', 'routes-2']);
    assert.equal(meta['routes-0']?.length, 511);
    assert.equal(meta['routes-0']?.split(',').length, 64);
    assert.equal(meta['routes-1']?.split(',').length, 64);
    assert.equal(meta['routes-2']?.split(',').length, 2);
    for (const v of Object.values(meta)) assert.ok(v.length <= META_VALUE_MAX_CHARS);
    assert.deepEqual(decodeRoutes(meta), routes);
  });

  test('consul-meta - chunks are read in numeric order (routes-10 after routes-2)', () => {
    const meta: Record<string, string> = {};
    for (let i = 0; i < 11; i++) meta[`routes-${i}`] = `${i}-0`;
    const reversed = Object.fromEntries(Object.entries(meta).reverse());
    assert.deepEqual(
      decodeRoutes(reversed).map((r) => r.id),
      Array.from({ length: 11 }, (_, i) => i),
    );
  });

  test("consul-meta - negative route ids round-trip in our decoder and are three parts for old due's split", () => {
    const routes = [routeFromFlags(-5, 2), routeFromFlags(3, 4), routeFromFlags(-1, 0)];
    const meta = encodeRoutes(routes);
    assert.equal(meta['routes-0'], '-5-2,3-4,-1-0');
    assert.deepEqual(decodeRoutes(meta), routes);
    // due <= v2.5 splits each item on every "-" and skips anything that is not exactly two parts.
    const oldDueKeeps = (meta['routes-0'] ?? '').split(',').filter((item) => item.split('-').length === 2);
    assert.deepEqual(oldDueKeeps, ['3-4']);
  });

  test('consul-meta - the v2.2-2.3 triple {id}-{stateful}-{internal} is read', () => {
    assert.deepEqual(decodeRoutes({ 'routes-0': '1-1-0,2-0-1' }), [
      { id: 1, internal: false, stateful: true, authorized: false },
      { id: 2, internal: true, stateful: false, authorized: false },
    ]);
  });

  test('consul-meta - malformed route items are skipped, not thrown', () => {
    assert.deepEqual(decodeRoutes({ 'routes-0': 'x-1,,5,-,3--1,4-2,9-a,1e3-0', 'routes-x': '1-1' }), [
      routeFromFlags(4, 2),
    ]);
  });

  test('consul-meta - events are a JSON array, omitted when empty', () => {
    assert.equal(encodeMeta(instance({ events: [] })).events, undefined);
    assert.equal(encodeMeta(instance({ events: [1, 3] })).events, '[1,3]');
    assert.deepEqual(decodeMeta(encodeMeta(instance({ events: [1, 3] })))?.events, [1, 3]);
    // newer due's chunked lists and junk: unknown ids and bad JSON are dropped.
    const meta = { ...encodeMeta(instance()), 'events-0': '[2]', 'events-1': '[9,"x",3]' };
    assert.deepEqual(decodeMeta(meta)?.events, [2, 3]);
    assert.deepEqual(decodeMeta({ ...encodeMeta(instance()), events: 'nope' })?.events, []);
  });

  test('consul-meta - weight is omitted when 0 and decoded as 0 when absent or bad', () => {
    assert.equal(encodeMeta(instance({ weight: 0 })).weight, undefined);
    assert.equal(encodeMeta(instance({ weight: 3 })).weight, '3');
    assert.equal(decodeMeta(encodeMeta(instance({ weight: 0 })))?.weight, 0);
    assert.equal(decodeMeta({ ...encodeMeta(instance()), weight: 'heavy' })?.weight, 0);
    assert.equal(decodeMeta({ ...encodeMeta(instance()), weight: '-4' })?.weight, 0);
  });

  test('consul-meta - user metadata travels as _key', () => {
    const meta = encodeMeta(instance({ metadata: { region: 'eu', 'zone-id': '3' } }));
    assert.equal(meta._region, 'eu');
    assert.equal(meta['_zone-id'], '3');
    assert.deepEqual(decodeMeta(meta)?.metadata, { region: 'eu', 'zone-id': '3' });
  });

  test("consul-meta - the whole layout matches due's field names", () => {
    const meta = encodeMeta(
      instance({ routes: [routeFromFlags(1, 0), routeFromFlags(2, 2)], events: [1], metadata: { a: 'b' } }),
    );
    assert.deepEqual(meta, {
      id: 'n1',
      kind: 'node',
      alias: 'game',
      state: 'work',
      endpoint: 'bus://duet/node/n1',
      weight: '1',
      events: '[1]',
      'routes-0': '1-0,2-2',
      _a: 'b',
    });
  });

  test('consul-meta - values Consul would refuse fail with a ConfigError naming the key', () => {
    assert.throws(
      () => encodeMeta(instance({ metadata: { 'bad key': 'x' } })),
      (err: unknown) =>
        err instanceof ConfigError && err.code === ErrorCode.CONFIG_INVALID && err.path === 'metadata.bad key',
    );
    assert.throws(
      () => encodeMeta(instance({ metadata: { big: 'x'.repeat(513) } })),
      (err: unknown) => err instanceof ConfigError && err.path === 'metadata.big',
    );
    assert.throws(
      () => encodeMeta(instance({ name: 'n'.repeat(600) })),
      (err: unknown) => err instanceof ConfigError && err.path === 'alias',
    );
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'v']));
    assert.throws(() => encodeMeta(instance({ metadata: many })), ConfigError);
  });

  test('consul-meta - entries that are not due/duet instances decode to undefined', () => {
    const good = encodeMeta(instance());
    assert.equal(decodeMeta({ ...good, id: '' }), undefined);
    assert.equal(decodeMeta({ ...good, kind: 'mesh' }), undefined);
    assert.equal(decodeMeta({ ...good, state: 'dead' }), undefined);
    assert.equal(decodeMeta({}), undefined);
  });

  test('consul-meta - property: any instance round-trips (routes, events, weight, metadata)', () => {
    const route = fc.record<RouteInfo>(
      {
        id: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        internal: fc.boolean(),
        stateful: fc.boolean(),
        authorized: fc.boolean(),
      },
      { noNullPrototype: true },
    );
    const inst = fc.record<ServiceInstance>(
      {
        id: fc.string({ minLength: 1, maxLength: 40 }),
        kind: fc.constantFrom('gate', 'node'),
        name: fc.string({ maxLength: 40 }),
        state: fc.constantFrom('shut', 'work', 'busy', 'hang'),
        endpoint: fc.string({ maxLength: 80 }),
        weight: fc.nat({ max: 1000 }),
        routes: fc.array(route, { maxLength: 300 }),
        events: fc.uniqueArray(fc.constantFrom(1 as const, 2 as const, 3 as const)),
        metadata: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), fc.string({ maxLength: 50 }), {
          maxKeys: 5,
          noNullPrototype: true,
        }),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(inst, (i) => {
        const meta = encodeMeta(i);
        for (const v of Object.values(meta)) assert.ok(v.length <= META_VALUE_MAX_CHARS);
        assert.deepEqual(decodeMeta(meta), i);
      }),
    );
  });
});
