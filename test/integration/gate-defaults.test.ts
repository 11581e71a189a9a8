import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCHEMA } from '../../src/config/schema.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/** One source per default: a gate built in code without an option behaves as the config schema's default says. */

test('gate defaults - malformedBudget unset is the schema default (0 = never close), not a second number', async (t) => {
  assert.equal(SCHEMA.network.ws.server.malformedBudget.default, 0);
  const e = await startEmbedded({ heartbeatIntervalMs: 0 });
  t.after(() => e[Symbol.asyncDispose]());
  const c = await WsTestClient.connect(e.url);
  t.after(() => c[Symbol.asyncDispose]());
  // 150 short frames (2 bytes: shorter than the size field): each one malformed.
  for (let i = 0; i < 150; i++) c.sendRaw(new Uint8Array([0, 1]));
  await until(() => e.gate.counters.malformed.short === 150, 'every malformed frame counted');
  assert.equal((await c.request(1, 'still open')).text, 'still open');
  assert.ok(c.isOpen);
});
