import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';

test('metrics - service calls are counted and timed by service, method and outcome', async (t) => {
  const metrics = createMetrics();
  t.after(() => metrics.close());
  const bus = new MemoryBus();
  const deps = { bus, locator: new MemoryLocator(), registry: new MemoryRegistry(), codec: new PacketCodec() };
  const callee = new Node({ ...deps, id: 'callee' });
  callee.services.provide('diag', { whoami: () => 'callee' });
  const caller = new Node({
    ...deps,
    id: 'caller',
    onCall: (service, method, outcome, seconds) => metrics.observeServiceCall(service, method, outcome, seconds),
  });
  await callee.start();
  await caller.start();
  t.after(async () => {
    await caller.stop();
    await callee.stop();
    await bus.drain();
  });
  for (let i = 0; i < 3; i++) await caller.services.call('diag', 'whoami');
  await caller.services.call('nobody', 'whoami').catch(() => {});
  const text = await metrics.scrape();
  assert.match(text, /duet_service_call_seconds_count\{service="diag",method="whoami",outcome="ok"\} 3/);
  assert.match(
    text,
    /duet_service_call_seconds_count\{service="nobody",method="whoami",outcome="DUET_ERR_NO_INSTANCE"\} 1/,
  );
  assert.match(text, /duet_service_call_seconds_sum\{service="diag",method="whoami",outcome="ok"\} \d/);
});
