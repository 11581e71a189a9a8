import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics } from '../../src/metrics/metrics.js';
import { startMetricsServer } from '../../src/metrics/server.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { connect, hex } from '../harness/ws-client.js';

/** The one sample of `name` whose labels include `want`. */
function value(text: string, name: string, want: Record<string, string> = {}): number {
  const hits = text.split('\n').filter((line) => {
    const m = /^([\w:]+)(?:\{(.*)\})? \S+$/.exec(line);
    if (m === null || m[1] !== name) return false;
    return Object.entries(want).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`));
  });
  assert.equal(hits.length, 1, `one sample of ${name} ${JSON.stringify(want)}: ${hits.join(' | ')}`);
  return Number((hits[0] as string).split(' ').at(-1));
}

test('metrics - /metrics after real client traffic through a gate and node moves by exactly that traffic', async (t) => {
  const e = await startEmbedded();
  t.after(() => e[Symbol.asyncDispose]());
  const metrics = createMetrics({ labels: { role: 'dev' } });
  t.after(() => metrics.close());
  metrics.watchGate({
    counters: e.gate.counters,
    connections: () => e.gate.sessions.size,
    sessionsByState: () => ({
      bound: e.gate.sessions.boundCount,
      unbound: e.gate.sessions.size - e.gate.sessions.boundCount,
    }),
  });
  metrics.watchNode(e.node.counters);
  let ready = false;
  const server = await startMetricsServer({ addr: '127.0.0.1:0', metrics, ready: () => ready });
  t.after(() => server.close());
  const scrape = async () => (await fetch(`http://127.0.0.1:${server.address.port}/metrics`)).text();
  assert.equal((await fetch(`http://127.0.0.1:${server.address.port}/readyz`)).status, 503);
  ready = e.gate.state === 'running';
  assert.equal((await fetch(`http://127.0.0.1:${server.address.port}/readyz`)).status, 200);

  const client = await connect(e.url);
  t.after(() => client[Symbol.asyncDispose]());
  await until(() => e.gate.sessions.size === 1, 'session opened');
  const before = await scrape();
  assert.equal(value(before, 'duet_connections'), 1);

  const N = 25;
  let bytesIn = 0;
  let bytesOut = 0;
  for (let i = 0; i < N; i++) {
    const body = `echo-${i}`;
    const reply = await client.request(1, body);
    assert.equal(reply.text, body);
    const frame = 4 + 1 + 2 + 2 + Buffer.byteLength(body); // size, header, route, seq (defaults), body
    bytesIn += frame;
    bytesOut += frame;
  }
  client.sendData(999, 1, 'nobody serves this route');
  bytesIn += 4 + 1 + 2 + 2 + Buffer.byteLength('nobody serves this route');
  const short = hex('00 00 00');
  client.sendRaw(short);
  bytesIn += short.length;
  await until(() => e.gate.counters.malformed.short >= 1 && e.gate.counters.drops.unknown_route >= 1, 'drops counted');
  await client.request(2, '1001'); // login: the session becomes bound
  bytesIn += 4 + 1 + 2 + 2 + 4;
  bytesOut += 4 + 1 + 2 + 2 + 4;

  const after = await scrape();
  const delta = (name: string, labels: Record<string, string> = {}) =>
    value(after, name, labels) - value(before, name, labels);
  assert.equal(delta('duet_frames_in_total'), N + 3);
  assert.equal(delta('duet_bytes_in_total'), bytesIn);
  assert.equal(delta('duet_frames_out_total'), N + 1);
  assert.equal(delta('duet_bytes_out_total'), bytesOut);
  assert.equal(delta('duet_drops_total', { reason: 'unknown_route' }), 1);
  assert.equal(delta('duet_malformed_frames_total', { reason: 'short' }), 1);
  assert.equal(delta('duet_node_requests_total'), N + 1);
  assert.equal(value(after, 'duet_sessions', { state: 'bound' }), 1);
  assert.equal(value(after, 'duet_sessions', { state: 'unbound' }), 0);

  await client.close();
  await until(() => e.gate.sessions.size === 0, 'session closed');
  assert.equal(value(await scrape(), 'duet_connections'), 0);
});
