/**
 * Graceful drain (issue 6): SIGTERM to a gate with live sessions refuses new connections (503 before upgrade), keeps
 * answering the sessions it has until they close, and exits 0 within shutdownMaxWaitTime; a second signal forces.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import { startDuet } from '../harness/duet-process.js';
import { freePort } from '../harness/free-port.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function upgradeStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function connect(url: string): Promise<Client> {
  const c = new Client({
    url,
    WebSocket: WebSocket as never,
    reconnect: { enabled: false },
    heartbeat: { intervalMs: 0 },
  });
  await c.connect();
  return c;
}

describe('drain - SIGTERM with live sessions', { timeout: 60_000 }, () => {
  it('drain - refuses new upgrades, serves existing sessions until they leave, exits 0', async () => {
    const port = await freePort();
    const p = await startDuet([
      'dev',
      '--set',
      `network.ws.server.addr="127.0.0.1:${port}"`,
      '--set',
      'shutdownMaxWaitTime="20s"',
    ]);
    try {
      const url = `ws://127.0.0.1:${port}/`;
      const a = await connect(url);
      const b = await connect(url);
      assert.equal(await upgradeStatus(port), 101);
      const t0 = Date.now();
      process.kill(p.pid, 'SIGTERM');
      await p.waitFor(/draining/, 5_000);
      // New connections: refused before the upgrade.
      assert.equal(await upgradeStatus(port), 503);
      // Existing sessions: still answered, repeatedly, while the drain waits for them.
      for (let i = 0; i < 5; i++) {
        assert.equal(dec((await a.request(1, enc(`a${i}`))).body), `a${i}`);
        assert.equal(dec((await b.request(1, enc(`b${i}`))).body), `b${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(p.running, true, 'still running while sessions are open');
      await a.close();
      await b.close();
      assert.equal(await p.exited, 0);
      assert.ok(Date.now() - t0 < 20_000, 'exited within shutdownMaxWaitTime');
    } finally {
      await p.kill();
    }
  });

  it('drain - sessions still open at shutdownMaxWaitTime are closed with 1001 and the process exits 0', async () => {
    const port = await freePort();
    const p = await startDuet([
      'dev',
      '--set',
      `network.ws.server.addr="127.0.0.1:${port}"`,
      '--set',
      'shutdownMaxWaitTime="1s"',
    ]);
    try {
      const a = await connect(`ws://127.0.0.1:${port}/`);
      const closed = new Promise<number>((resolve) => a.on('close', (i) => resolve(i.code)));
      const t0 = Date.now();
      process.kill(p.pid, 'SIGTERM');
      assert.equal(await closed, 1001);
      assert.ok(Date.now() - t0 >= 900, 'waited for the deadline first');
      assert.equal(await p.exited, 0);
    } finally {
      await p.kill();
    }
  });

  it('drain - a second signal forces the exit (130)', async () => {
    const port = await freePort();
    const p = await startDuet([
      'dev',
      '--set',
      `network.ws.server.addr="127.0.0.1:${port}"`,
      '--set',
      'shutdownMaxWaitTime="30s"',
    ]);
    try {
      const a = await connect(`ws://127.0.0.1:${port}/`);
      process.kill(p.pid, 'SIGTERM');
      await p.waitFor(/draining/, 5_000);
      process.kill(p.pid, 'SIGTERM');
      assert.equal(await p.exited, 130);
      await a.close().catch(() => {});
    } finally {
      await p.kill();
    }
  });
});
