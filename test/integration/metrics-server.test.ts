import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ConfigError, UnavailableError } from '../../src/errors.js';
import { createMetrics, type GateCountersView, type Metrics } from '../../src/metrics/metrics.js';
import { type MetricsServer, startMetricsServer } from '../../src/metrics/server.js';

type Labels = Record<string, string>;

/** Every sample of `name` in an exposition text, with its labels. */
function samples(text: string, name: string): Array<{ labels: Labels; value: number }> {
  const out: Array<{ labels: Labels; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Labels = {};
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1] as string] = pair[2] as string;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample of `name` whose labels include `want`. */
function value(text: string, name: string, want: Labels = {}): number {
  const hits = samples(text, name).filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `expected one ${name}${JSON.stringify(want)}, found ${hits.length}`);
  return (hits[0] as { value: number }).value;
}

async function start(
  t: { after(fn: () => unknown): void },
  metrics: Metrics,
  ready: () => boolean,
): Promise<MetricsServer> {
  const server = await startMetricsServer({ addr: '127.0.0.1:0', metrics, ready });
  t.after(() => server.close());
  return server;
}

const get = (s: MetricsServer, path: string, init?: RequestInit) =>
  fetch(`http://127.0.0.1:${s.address.port}${path}`, init);

test('metrics server - counters scraped from /metrics move by exactly what was counted', async (t) => {
  const metrics = createMetrics({ labels: { role: 'gate' } });
  t.after(() => metrics.close());
  const gateCounters: GateCountersView & { framesIn: number; bytesIn: number; drops: Record<string, number> } = {
    framesIn: 100,
    bytesIn: 4000,
    framesOut: 7,
    bytesOut: 70,
    drops: { no_node: 1 },
    malformed: { short: 0 },
    slowConsumers: 2,
  };
  let live = 3;
  const unwatch = metrics.watchGate({ counters: gateCounters, connections: () => live });
  const node = { delivered: 0, events: 0, handlerErrors: 0, unknownRoute: 0, badPackets: 0 };
  metrics.watchNode(node);
  const server = await start(t, metrics, () => true);

  const res0 = await get(server, '/metrics');
  assert.equal(res0.status, 200);
  assert.match(res0.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const before = await res0.text();
  assert.equal(value(before, 'duet_connections', { role: 'gate' }), 3);
  assert.equal(value(before, 'duet_frames_in_total'), 100);
  assert.equal(value(before, 'duet_drops_total', { reason: 'no_node' }), 1);
  assert.equal(value(before, 'duet_drops_total', { reason: 'unknown_route' }), 0, 'known reasons are present at 0');

  for (let i = 0; i < 3; i++) metrics.frameIn(10);
  metrics.frameOut(5);
  gateCounters.framesIn += 50;
  gateCounters.bytesIn += 500;
  gateCounters.drops.no_node = (gateCounters.drops.no_node ?? 0) + 4;
  metrics.drop('no_node');
  metrics.drop('rate_limited');
  metrics.malformed('short');
  metrics.malformed('short');
  metrics.busError('publish');
  metrics.locatorError('bindGate');
  metrics.connectionOpened();
  metrics.connectionOpened();
  metrics.connectionClosed();
  live = 5;
  metrics.sessionMoved(undefined, 'unbound');
  metrics.sessionMoved(undefined, 'unbound');
  metrics.sessionMoved('unbound', 'bound');
  node.delivered += 9;
  node.handlerErrors += 1;
  node.unknownRoute += 2;
  metrics.observeRouteLatency(1, 0.0004);
  metrics.observeRouteLatency(1, 0.003);
  metrics.observeRouteLatency(2, 0.2);

  const after = await (await get(server, '/metrics')).text();
  const delta = (name: string, labels: Labels = {}) => value(after, name, labels) - value(before, name, labels);
  assert.equal(delta('duet_frames_in_total'), 3 + 50);
  assert.equal(delta('duet_bytes_in_total'), 30 + 500);
  assert.equal(delta('duet_frames_out_total'), 1);
  assert.equal(delta('duet_bytes_out_total'), 5);
  assert.equal(delta('duet_drops_total', { reason: 'no_node' }), 5);
  assert.equal(delta('duet_drops_total', { reason: 'rate_limited' }), 1);
  assert.equal(delta('duet_drops_total', { reason: 'unknown_route' }), 0);
  assert.equal(delta('duet_malformed_frames_total', { reason: 'short' }), 2);
  assert.equal(value(after, 'duet_bus_errors_total', { op: 'publish' }), 1);
  assert.equal(value(after, 'duet_locator_errors_total', { op: 'bindGate' }), 1);
  assert.equal(value(after, 'duet_connections'), 5 + 1);
  assert.equal(value(after, 'duet_sessions', { state: 'unbound' }), 1);
  assert.equal(value(after, 'duet_sessions', { state: 'bound' }), 1);
  assert.equal(value(after, 'duet_slow_consumers_total'), 2);
  assert.equal(delta('duet_node_requests_total'), 9);
  assert.equal(delta('duet_node_handler_errors_total'), 1);
  assert.equal(delta('duet_node_rejected_total', { reason: 'unknown_route' }), 2);
  assert.equal(value(after, 'duet_route_latency_seconds_count', { route: '1' }), 2);
  assert.equal(value(after, 'duet_route_latency_seconds_bucket', { route: '1', le: '0.0005' }), 1);
  assert.equal(value(after, 'duet_route_latency_seconds_bucket', { route: '1', le: '0.005' }), 2);
  assert.equal(value(after, 'duet_route_latency_seconds_bucket', { route: '2', le: '0.1' }), 0);
  assert.equal(value(after, 'duet_route_latency_seconds_bucket', { route: '2', le: '0.25' }), 1);
  assert.ok(Math.abs(value(after, 'duet_route_latency_seconds_sum', { route: '1' }) - 0.0034) < 1e-9);
  for (const stat of ['p50', 'p99', 'max', 'mean']) {
    assert.ok(value(after, 'duet_event_loop_lag_seconds', { stat }) >= 0, stat);
  }
  assert.ok(value(after, 'process_resident_memory_bytes') > 0);
  assert.ok(value(after, 'process_cpu_seconds_total') > 0);

  unwatch();
  const unwatched = await (await get(server, '/metrics')).text();
  assert.equal(value(unwatched, 'duet_frames_in_total'), 3, 'an unwatched gate no longer contributes');
});

test('metrics server - /readyz follows ready(), /healthz is always 200', async (t) => {
  const metrics = createMetrics();
  t.after(() => metrics.close());
  let ready = false;
  const server = await start(t, metrics, () => ready);
  assert.equal((await get(server, '/readyz')).status, 503);
  assert.equal((await get(server, '/healthz')).status, 200);
  ready = true;
  const r = await get(server, '/readyz');
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'ready\n');
  ready = false;
  assert.equal((await get(server, '/readyz')).status, 503);
  assert.equal((await get(server, '/healthz?x=1')).status, 200);
});

test('metrics server - unknown paths are 404, other methods 405, a throwing probe is not ready', async (t) => {
  const metrics = createMetrics();
  t.after(() => metrics.close());
  const server = await start(t, metrics, () => {
    throw new Error('probe broke');
  });
  assert.equal((await get(server, '/nope')).status, 404);
  const post = await get(server, '/metrics', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await get(server, '/readyz')).status, 503);
});

test('metrics server - two Metrics in one process keep separate registries', async (t) => {
  const a = createMetrics();
  const b = createMetrics();
  t.after(() => {
    a.close();
    b.close();
  });
  a.frameIn(1);
  assert.equal(value(await a.scrape(), 'duet_frames_in_total'), 1);
  assert.equal(value(await b.scrape(), 'duet_frames_in_total'), 0);
});

test('metrics server - a bad address is a ConfigError, a taken port an UnavailableError, close is idempotent', async (t) => {
  const metrics = createMetrics();
  t.after(() => metrics.close());
  await assert.rejects(startMetricsServer({ addr: 'nope', metrics, ready: () => true }), ConfigError);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => blocker.close(resolve)));
  const port = (blocker.address() as AddressInfo).port;
  await assert.rejects(
    startMetricsServer({ addr: `127.0.0.1:${port}`, metrics, ready: () => true }),
    (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, /EADDRINUSE/);
      return true;
    },
  );
  const server = await startMetricsServer({ addr: '127.0.0.1:0', metrics, ready: () => true });
  const keepAlive = await get(server, '/healthz');
  assert.equal(keepAlive.status, 200);
  await Promise.all([server.close(), server.close()]);
  await assert.rejects(get(server, '/healthz'));
});
