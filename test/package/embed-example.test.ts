// Runs the README's embedding example (docs/examples/embed.ts) as written: a gate and a node in this process on the
// in-process adapters, a client through a real WebSocket, middleware and routes of a user's own app.
import assert from 'node:assert/strict';
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
