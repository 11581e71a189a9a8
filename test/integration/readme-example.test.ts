import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DiagnosticRoute } from '../../src/demo/diagnostics.js';
import shop from '../fixtures/apps/shop-app.js';
import { startEmbedded } from '../harness/embedded.js';
import { connect } from '../harness/ws-client.js';

test('README example - the shop service and cart actor answer as documented, the README prints the same code', async (t) => {
  const e = await startEmbedded({ register: (node) => shop.register(node) });
  t.after(() => e[Symbol.asyncDispose]());
  const c = await connect(e.url);
  t.after(() => c.close());
  assert.equal((await c.request(DiagnosticRoute.LOGIN, '5')).text, '5');
  assert.equal((await c.request(50, 'sword')).text, '{"items":["sword"]}');
  assert.equal((await c.request(50, 'sword')).text, '{"items":["sword","sword"]}');
  assert.equal((await c.request(50, 'sword')).text, '{"items":["sword","sword","sword"]}');
  assert.equal((await c.request(50, 'sword')).text, 'error:OUT_OF_STOCK');

  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const fixture = readFileSync(new URL('../fixtures/apps/shop-app.ts', import.meta.url), 'utf8');
  const body = fixture.split('\n').slice(1).join('\n').trim();
  assert.ok(readme.includes(body), 'README.md shows test/fixtures/apps/shop-app.ts (after its first line) verbatim');
});
