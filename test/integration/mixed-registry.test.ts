// A registry shared with due (issue 18): a gate routes only to instances on its own bus, and says once which it
// ignores; two node names registering one stateful route are reported once, naming both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteTable } from '../../src/gate/route-table.js';
import type { ServiceInstance } from '../../src/registry/registry.js';
import { sampleInstance } from '../contract/registry.contract.js';
import { startEmbedded } from '../harness/embedded.js';
import { connect } from '../harness/ws-client.js';

/** How due registers a node: reached over drpc, not over the bus. */
function dueNode(over: Partial<ServiceInstance> = {}): ServiceInstance {
  return sampleInstance({
    id: 'due-go-node-1',
    name: 'game',
    endpoint: 'drpc://10.0.0.9:3000?is_secure=false',
    weight: 1,
    routes: [{ id: 1, internal: false, stateful: false, authorized: false }],
    events: [],
    metadata: {},
    ...over,
  });
}

test('mixed registry - a due instance registered for route 1 never gets traffic; the duet node answers every request', async (t) => {
  const e = await startEmbedded({ dispatch: 'rr' });
  t.after(() => e[Symbol.asyncDispose]());
  await e.registry.register(dueNode());
  const c = await connect(e.url);
  t.after(() => c[Symbol.asyncDispose]());
  // Round robin over two instances would send every second request to the unreachable one.
  for (let i = 0; i < 20; i++) assert.equal((await c.request(1, `r${i}`)).text, `r${i}`);
  assert.equal(e.gate.counters.framesIn >= 20, true);
});

test('mixed registry - the unreachable instance and a stateful route under two names are each warned about once', () => {
  const warnings: Array<[string, Record<string, unknown>]> = [];
  const scope = { reachable: 'bus://duet/', warn: (m: string, f: Record<string, unknown>) => warnings.push([m, f]) };
  const duet = sampleInstance({ id: 'a', name: 'game', endpoint: 'bus://duet/node/a' });
  const chat = sampleInstance({ id: 'b', name: 'chat', endpoint: 'bus://duet/node/b' });
  let table = RouteTable.build([duet, dueNode(), chat], 'random', undefined, scope);
  assert.deepEqual([...table.nodes.keys()], ['a', 'b'], 'the due instance is not in the table');
  assert.deepEqual(
    table.routes.get(1)?.instances.map((i) => i.id),
    ['a', 'b'],
  );
  // Rebuilt again and again (every registry change): still one warning each.
  for (let i = 0; i < 5; i++) table = RouteTable.build([duet, dueNode(), chat], 'random', table, scope);
  const messages = warnings.map(([m]) => m);
  assert.equal(messages.filter((m) => m.includes('due-go-node-1')).length, 1, messages.join('\n'));
  assert.match(messages.find((m) => m.includes('due-go-node-1')) ?? '', /ignoring node game due-go-node-1/);
  // sampleInstance has stateful routes 2, 4 and -7: one warning per route, each naming both groups.
  const groups = messages.filter((m) => m.startsWith('stateful route'));
  assert.equal(groups.length, 3, messages.join('\n'));
  for (const m of groups) assert.match(m, /nodes named "chat" and "game": it is bound to "game" \(first seen\)/);
  // Without a scope (tests that build tables directly) nothing is filtered or said.
  assert.equal(RouteTable.build([duet, dueNode()], 'random').nodes.size, 2);
});
