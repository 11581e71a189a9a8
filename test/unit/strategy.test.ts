import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteTable } from '../../src/gate/route-table.js';
import {
  createPicker,
  eligible,
  RandomPicker,
  RoundRobinPicker,
  SmoothWeightedPicker,
} from '../../src/gate/strategy.js';
import { ClusterEvent, type RouteInfo, type ServiceInstance, type ServiceState } from '../../src/registry/registry.js';

/** Stateless dispatch as due picks: work before busy, never hang/shut; random, rr and nginx's wrr. */

function node(id: string, o: Partial<ServiceInstance> = {}): ServiceInstance {
  return {
    id,
    kind: 'node',
    name: o.name ?? 'game',
    state: o.state ?? 'work',
    endpoint: `bus://duet/node/${id}`,
    weight: o.weight ?? 1,
    routes: o.routes ?? [],
    events: o.events ?? [],
    metadata: {},
  };
}

const route = (id: number, o: Partial<RouteInfo> = {}): RouteInfo => ({
  id,
  internal: false,
  stateful: false,
  authorized: false,
  ...o,
});

const ids = (list: readonly (ServiceInstance | undefined)[]): string[] => list.map((i) => i?.id ?? '-');

function picks(
  p: { pick(c: readonly ServiceInstance[]): ServiceInstance | undefined },
  c: ServiceInstance[],
  n: number,
) {
  return ids(Array.from({ length: n }, () => p.pick(c)));
}

test('strategy - eligible keeps work instances when there are any, else busy, never hang or shut', () => {
  const at = (state: ServiceState, id: string) => node(id, { state });
  const mixed = [at('hang', 'h'), at('busy', 'b'), at('work', 'w1'), at('shut', 's'), at('work', 'w2')];
  assert.deepEqual(ids(eligible(mixed)), ['w1', 'w2']);
  assert.deepEqual(ids(eligible([at('hang', 'h'), at('busy', 'b1'), at('shut', 's'), at('busy', 'b2')])), ['b1', 'b2']);
  assert.deepEqual(eligible([at('hang', 'h'), at('shut', 's')]), []);
  assert.deepEqual(eligible([]), []);
});

test('strategy - every picker returns undefined for no candidates', () => {
  for (const s of ['random', 'rr', 'wrr'] as const) assert.equal(createPicker(s).pick([]), undefined, s);
});

test('strategy - createPicker maps the configured names', () => {
  assert.ok(createPicker('random') instanceof RandomPicker);
  assert.ok(createPicker('rr') instanceof RoundRobinPicker);
  assert.ok(createPicker('wrr') instanceof SmoothWeightedPicker);
});

test('strategy - random picks the index the random source names, and stays in range at its edges', () => {
  const c = [node('a'), node('b'), node('c')];
  const values = [0, 0.34, 0.67, 0.9999999, 1];
  let i = 0;
  const p = new RandomPicker(() => values[i++] ?? 0);
  assert.deepEqual(picks(p, c, values.length), ['a', 'b', 'c', 'c', 'a']);
});

test('strategy - random with Math.random reaches every candidate', () => {
  const c = [node('a'), node('b'), node('c'), node('d')];
  const seen = new Map<string, number>();
  const p = new RandomPicker();
  for (let k = 0; k < 4000; k++) {
    const id = p.pick(c)?.id ?? '-';
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['a', 'b', 'c', 'd']);
  // 1000 expected each; 700 is more than 10 standard deviations away
  for (const [id, n] of seen) assert.ok(n > 700, `${id} picked ${n} times of 4000`);
});

test('strategy - rr cycles through the candidates in order, like due (index = ++counter % n)', () => {
  const c = [node('a'), node('b'), node('c')];
  const p = new RoundRobinPicker();
  assert.deepEqual(picks(p, c, 7), ['b', 'c', 'a', 'b', 'c', 'a', 'b']);
  // the counter is per picker (per route) and keeps going when the set shrinks: picks 8..11 of 2 → 0 1 0 1
  assert.deepEqual(picks(p, [node('x'), node('y')], 4), ['x', 'y', 'x', 'y']);
});

test('strategy - wrr is nginx smooth weighted round robin: weights 5,1,1 give a a b a c a a', () => {
  const c = [node('a', { weight: 5 }), node('b', { weight: 1 }), node('c', { weight: 1 })];
  const p = new SmoothWeightedPicker();
  const seq = ['a', 'a', 'b', 'a', 'c', 'a', 'a'];
  assert.deepEqual(picks(p, c, 7), seq);
  assert.deepEqual(picks(p, c, 14), [...seq, ...seq], 'the cycle repeats exactly');
});

test('strategy - wrr gives each instance exactly its share per cycle, and treats weight 0 as 1', () => {
  const c = [node('a', { weight: 3 }), node('b', { weight: 2 }), node('c', { weight: 0 })];
  const p = new SmoothWeightedPicker();
  const counts = new Map<string, number>();
  for (const id of picks(p, c, 600)) counts.set(id, (counts.get(id) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(counts), { a: 300, b: 200, c: 100 });
});

test('strategy - wrr keeps working when the candidate set changes', () => {
  const p = new SmoothWeightedPicker();
  const a = node('a', { weight: 2 });
  const b = node('b', { weight: 1 });
  assert.deepEqual(picks(p, [a, b], 3).sort(), ['a', 'a', 'b']);
  // b left, c and d joined: every pick is one of the current candidates, shares follow the weights
  const c = node('c', { weight: 1 });
  const d = node('d', { weight: 1 });
  const after = picks(p, [a, c, d], 400);
  assert.ok(after.every((id) => ['a', 'c', 'd'].includes(id)));
  const share = after.filter((id) => id === 'a').length;
  assert.ok(share >= 198 && share <= 202, `a got ${share} of 400, weight 2 of 4`);
  for (let k = 0; k < 50; k++) assert.ok(p.pick([node(`n${k}`)]), 'many short-lived instances never break it');
  assert.equal(p.pick([b])?.id, 'b');
});

test('route table - build groups instances per route, names the stateful group, and lists event subscribers', () => {
  const table = RouteTable.build(
    [
      node('n2', {
        name: 'chat',
        routes: [route(1), route(3, { stateful: true })],
        events: [ClusterEvent.CONNECT, ClusterEvent.DISCONNECT],
      }),
      node('n1', { name: 'game', routes: [route(1), route(3, { stateful: true }), route(9, { internal: true })] }),
      node('n3', { name: 'game', state: 'hang', routes: [route(1)], events: [ClusterEvent.DISCONNECT] }),
    ],
    'rr',
  );
  assert.deepEqual([...table.routes.keys()].sort(), [1, 3, 9]);
  const r1 = table.routes.get(1);
  assert.deepEqual(ids(r1?.instances ?? []), ['n1', 'n2', 'n3']);
  assert.deepEqual(ids(r1?.candidates ?? []), ['n1', 'n2'], 'a hang instance serves no stateless traffic');
  // due: the group of a route is the name of the first instance seen with it (here in instance id order)
  assert.equal(table.routes.get(3)?.group, 'game');
  assert.equal(table.routes.get(3)?.info.stateful, true);
  assert.equal(table.routes.get(9)?.info.internal, true);
  assert.deepEqual(table.events.get(ClusterEvent.CONNECT), ['n2']);
  assert.deepEqual(table.events.get(ClusterEvent.DISCONNECT), ['n2', 'n3']);
  assert.equal(table.events.get(ClusterEvent.RECONNECT), undefined);
  assert.deepEqual([...table.nodes.keys()].sort(), ['n1', 'n2', 'n3']);
  // rr over the route's candidates never lands on the hang instance
  const got = Array.from({ length: 6 }, () => r1?.picker.pick(r1.candidates)?.id);
  assert.deepEqual(got, ['n2', 'n1', 'n2', 'n1', 'n2', 'n1']);
});

test('route table - only busy instances left: they serve; only hang/shut left: no candidate', () => {
  const busy = RouteTable.build([node('a', { state: 'busy', routes: [route(1)] })], 'random');
  assert.deepEqual(ids(busy.routes.get(1)?.candidates ?? []), ['a']);
  const none = RouteTable.build(
    [node('a', { state: 'hang', routes: [route(1)] }), node('b', { state: 'shut', routes: [route(1)] })],
    'random',
  );
  const e = none.routes.get(1);
  assert.ok(e);
  assert.equal(e.picker.pick(e.candidates), undefined);
});

test('route table - a rebuild keeps each route picker, so rr continues instead of restarting', () => {
  const list = [node('a', { routes: [route(1)] }), node('b', { routes: [route(1)] })];
  const t1 = RouteTable.build(list, 'rr');
  const e1 = t1.routes.get(1);
  assert.equal(e1?.picker.pick(e1.candidates)?.id, 'b');
  const t2 = RouteTable.build([...list, node('z', { routes: [route(2)] })], 'rr', t1);
  const e2 = t2.routes.get(1);
  assert.equal(e2?.picker, e1?.picker);
  assert.equal(e2?.picker.pick(e2.candidates)?.id, 'a');
  assert.ok(t2.routes.get(2));
});
