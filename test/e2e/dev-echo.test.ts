import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../harness/free-port.js';
import { hex, WsTestClient } from '../harness/ws-client.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Connects until the gate accepts, or fails at the deadline with the process output. */
async function connectWhenUp(url: string, proc: ChildProcess, output: () => string): Promise<WsTestClient> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`duet dev exited with ${proc.exitCode} before accepting:\n${output()}`);
    const r = await WsTestClient.tryConnect(url, { timeoutMs: 1000 });
    if (r instanceof WsTestClient) return r;
    if (Date.now() > deadline) throw new Error(`duet dev did not accept on ${url} within 20 s:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('dev - `duet dev` echoes the docs/protocol.md packet byte for byte, answers a heartbeat, exits 0 on SIGTERM', async (t) => {
  const port = await freePort();
  const proc = spawn(process.execPath, ['bin/duet.js', 'dev', '--set', `network.ws.server.addr=127.0.0.1:${port}`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  proc.stderr?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });

  const client = await connectWhenUp(`ws://127.0.0.1:${port}/`, proc, () => out);
  t.after(() => client[Symbol.asyncDispose]());

  // docs/protocol.md example: big endian, route 1, seq 2, body "hi".
  const echo = hex('00 00 00 07 00 00 01 00 02 68 69');
  client.sendRaw(echo);
  const reply = await client.next({ timeoutMs: 5000 });
  assert.equal(reply.bytes.toString('hex'), echo.toString('hex'));

  client.sendRaw(hex('00 00 00 01 80'));
  const hb = await client.next({ timeoutMs: 5000 });
  assert.equal(hb.bytes.toString('hex'), '0000000180');

  // Leave first: with a session open, `duet dev` waits shutdownMaxWaitTime (5 s in config/dev.toml) for it to end.
  const left = await client.close();
  assert.equal(left.code, 1000);
  assert.ok(proc.pid !== undefined);
  process.kill(proc.pid, 'SIGTERM');
  const [code, signal] = await Promise.race([
    exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`duet dev still running 10 s after SIGTERM:\n${out}`)), 10_000).unref(),
    ),
  ]);
  assert.equal(signal, null, out);
  assert.equal(code, 0, out);
});
