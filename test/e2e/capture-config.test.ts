/**
 * A gate started with `[capture] file` writes the client traffic it sees (issue 7), and `duet replay` re-sends that
 * file against a fresh gate with no diff.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import { loadCapture } from '../../src/replay/capture-file.js';
import { startDuet } from '../harness/duet-process.js';
import { freePort } from '../harness/free-port.js';

const BIN = fileURLToPath(new URL('../../bin/duet.js', import.meta.url));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

test('capture config - a gate with [capture] file records client packets; duet replay matches them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'duet-capture-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'traffic.capture');
  const port = await freePort();
  const recording = await startDuet([
    'dev',
    '--set',
    `network.ws.server.addr="127.0.0.1:${port}"`,
    '--set',
    `capture.file="${file}"`,
  ]);
  try {
    const c = new Client({
      url: `ws://127.0.0.1:${port}/`,
      WebSocket: WebSocket as never,
      heartbeat: { intervalMs: 0 },
    });
    await c.connect();
    assert.equal(new TextDecoder().decode((await c.request(2, enc('31337'))).body), '31337');
    for (let i = 0; i < 10; i++) await c.request(1, enc(`echo ${i}`));
    assert.match(new TextDecoder().decode((await c.request(3)).body), /^31337@/);
    await c.close();
  } finally {
    assert.equal(await recording.stop(), 0);
  }
  const { header, entries } = await loadCapture(file);
  assert.equal(header.packet.routeBytes, 2);
  const ins = entries.filter((e) => e.direction === 'in' && e.kind === 'packet');
  const outs = entries.filter((e) => e.direction === 'out' && e.kind === 'packet');
  assert.equal(ins.length, 12, 'login, 10 echoes, whoami');
  assert.equal(outs.length, 12, 'their 12 answers');

  // whoami names the node id, which differs on a new process: replay the echoes and login only.
  const replayPort = await freePort();
  const target = await startDuet(['dev', '--set', `network.ws.server.addr="127.0.0.1:${replayPort}"`]);
  try {
    const r = await run(['replay', file, '--url', `ws://127.0.0.1:${replayPort}/`, '--fast']);
    // The only difference a replay may show is whoami's node id.
    assert.ok(r.code === 0 || /route 3 seq \d+: body differs/.test(r.out), r.out);
    assert.doesNotMatch(r.out, /route (1|2) seq/, r.out);
  } finally {
    await target.stop();
  }
});
