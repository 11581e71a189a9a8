// Issue 20 case 8, functional side: 300 connections dropped at once each reach handler.closed exactly once (now
// delivered in time slices), a connection that stays keeps being served meanwhile, and close() waits for all.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import WebSocket from 'ws';
import type { Connection, ConnectionHandler } from '../../src/network/transport.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { until } from '../harness/embedded.js';

class EchoRecorder implements ConnectionHandler {
  readonly ends = new Map<number, number>();
  opened = 0;
  open(): void {
    this.opened++;
  }
  frame(c: Connection, bytes: Uint8Array): void {
    c.send(bytes.slice());
  }
  closed(c: Connection): void {
    this.ends.set(c.cid, (this.ends.get(c.cid) ?? 0) + 1);
  }
}

test('mass close - 300 sockets dropped at once: one closed() each, the survivor still echoes, close() waits for all', async (t) => {
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: 1024, maxHandshakePerIp: 0 });
  const rec = new EchoRecorder();
  const { port } = await transport.listen(rec);
  t.after(() => transport.close());
  const url = `ws://127.0.0.1:${port}/`;
  const open = async (): Promise<WebSocket> => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('error', () => {});
    t.after(() => ws.terminate());
    await once(ws, 'open');
    return ws;
  };
  const survivor = await open();
  const crowd: WebSocket[] = [];
  for (let i = 0; i < 300; i++) crowd.push(await open());
  await until(() => rec.opened === 301, 'every connection opened', 10_000);

  for (const ws of crowd) ws.terminate();
  let echoes = 0;
  survivor.on('message', () => {
    echoes++;
    if (echoes < 20) survivor.send(Buffer.from([echoes]));
  });
  survivor.send(Buffer.from([0]));
  await until(() => rec.ends.size === 300 && echoes === 20, '300 closes and 20 echoes', 10_000);
  assert.ok(
    [...rec.ends.values()].every((n) => n === 1),
    'closed() exactly once per connection',
  );
  assert.equal(transport.stats.connections, 1);

  await transport.close();
  assert.equal(rec.ends.size, 301, 'close() resolved after the survivor was closed() too');
});
