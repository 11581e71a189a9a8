// Runs the README's embedding example (docs/examples/embed.ts) as written: a gate and a node in this process on the
// in-process adapters, a client through a real WebSocket, middleware and routes of a user's own app.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import WS from 'ws';
import { greet, greeterApp, startEmbedded } from '../../docs/examples/embed.js';
import { freePort } from '../harness/free-port.js';

test('embed example - a gate and a node embedded in one process answer a client', async (t) => {
  const counter = { requests: 0 };
  const embedded = await startEmbedded(await freePort(), greeterApp(counter));
  t.after(() => embedded.stop());
  assert.equal(await greet(embedded.url, 'duet', WS), 'hello, duet');
  assert.equal(await greet(embedded.url, 'again', WS), 'hello, again');
  assert.equal(counter.requests, 2);
});

test('embed example - the README shows the example as it is in docs/examples/embed.ts', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = readFileSync(new URL('../../docs/examples/embed.ts', import.meta.url), 'utf8');
  const at = readme.indexOf('Embedding a gate and a node in your own process');
  assert.ok(at >= 0, 'the README has no embedding section');
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))?.[1] ?? '';
  const [importLine = '', ...rest] = block.split('\n');
  assert.ok(example.includes(rest.join('\n').trim()), 'the README code differs from docs/examples/embed.ts');
  const names = /\{([^}]*)\}/.exec(importLine)?.[1]?.split(',') ?? [];
  for (const name of names.map((n) => n.trim()).filter(Boolean)) {
    assert.ok(example.includes(`  ${name},`), `docs/examples/embed.ts does not import ${name}`);
  }
});
