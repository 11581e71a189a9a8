import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBeat } from '../../src/bus/liveness-codec.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import { NodeLiveness } from '../../src/gate/node-liveness.js';
import type { Session } from '../../src/gate/session.js';
import { silentLog } from '../../src/log/types.js';
import { LivenessBeat } from '../../src/node/liveness-beat.js';
import type { ServiceInstance } from '../../src/registry/registry.js';

const subjects = new Subjects('lv');
const inst = (id: string): ServiceInstance => ({
  id,
  kind: 'node',
  name: 'game',
  state: 'work',
  endpoint: '',
  weight: 1,
  routes: [],
  events: [],
  metadata: {},
});

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function watcher(bus: MemoryBus) {
  const reports: string[] = [];
  let changes = 0;
  const l = new NodeLiveness({
    bus,
    subject: subjects.nodesAlive(),
    log: silentLog,
    reportError: (err) => reports.push(String(err)),
    onChange: () => changes++,
    action: 'ignore',
  });
  return { l, reports, changes: () => changes };
}

test('node liveness - a node that stops beating is dead after 3 intervals; the registry list loses it', async () => {
  const bus = new MemoryBus();
  const w = watcher(bus);
  w.l.start();
  // Beats as a node sends them; clearing the timer without a "leaving" beat is what SIGKILL does.
  const timer = setInterval(() => bus.publish(subjects.nodeAlive('n1'), encodeBeat(50)), 50);
  await until('n1 watched', () => w.l.isWatched('n1'));
  assert.deepEqual(
    w.l.filter([]).map((i) => i.id),
    [],
    'never listed: nothing to keep',
  );
  assert.deepEqual(
    w.l.filter([inst('n1')]).map((i) => i.id),
    ['n1'],
  );
  assert.deepEqual(
    w.l.filter([]).map((i) => i.id),
    ['n1'],
    'listed once, still beating: kept when the registry loses it',
  );
  w.l.sent('n1', { isClosed: false } as Session);
  clearInterval(timer);
  const crashed = Date.now();
  await until('n1 dead', () => w.l.isDead('n1'));
  const tookMs = Date.now() - crashed;
  assert.ok(tookMs >= 100 && tookMs < 2_000, `dead after ${tookMs} ms (3 × 50 ms beats)`);
  assert.ok(w.changes() >= 1);
  assert.match(w.reports[0] ?? '', /node n1 missed 3 liveness beats.*1 sessions with requests to it left open/);
  assert.deepEqual(
    w.l.filter([inst('n1'), inst('n2')]).map((i) => i.id),
    ['n2'],
  );
  await w.l.stop();
  await bus.drain();
});

test('node liveness - a graceful stop says "leaving": the node is forgotten, not reported', async () => {
  const bus = new MemoryBus();
  const w = watcher(bus);
  w.l.start();
  const beat = new LivenessBeat(bus, subjects.nodeAlive('n1'), 50);
  beat.start();
  await until('n1 watched', () => w.l.isWatched('n1'));
  assert.equal(w.l.filter([inst('n1')]).length, 1);
  beat.stop();
  await until('n1 forgotten', () => !w.l.isWatched('n1'));
  assert.deepEqual(w.l.filter([]), [], 'a node that left is not kept when the registry drops it');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(w.l.isDead('n1'), false);
  assert.deepEqual(w.reports, []);
  await w.l.stop();
  await bus.drain();
});

test('node liveness - an interval of 0 sends no beat (cluster.node.livenessInterval = 0)', async () => {
  const bus = new MemoryBus();
  const seen: number[] = [];
  const sub = bus.subscribe(subjects.nodesAlive());
  void (async () => {
    for await (const m of sub) seen.push(m.data.byteLength);
  })();
  const off = new LivenessBeat(bus, subjects.nodeAlive('n0'), 0);
  off.start();
  await new Promise((r) => setTimeout(r, 50));
  off.stop();
  assert.deepEqual(seen, []);
  await sub.drain();
  await bus.drain();
});
