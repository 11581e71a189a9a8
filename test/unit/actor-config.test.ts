import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAdapters, createNode, packetCodec } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { createDemoApp } from '../../src/demo/app.js';
import { ErrorCode } from '../../src/errors.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dev(...sets: string[]) {
  return loadConfig({ role: 'dev', env: {}, argv: sets.flatMap((s) => ['--set', s]) }).config;
}

test('config [actor] - mailboxSize, idleTimeout and leaseTtl reach the node; a too short lease stops the start', async (t) => {
  const config = dev('actor.mailboxSize=1', 'actor.idleTimeout="80ms"', 'actor.leaseTtl="500ms"');
  const adapters = await createAdapters(config);
  t.after(() => adapters.dispose());
  const node = await createNode(config, adapters, packetCodec(config), createDemoApp());
  await node.start();
  t.after(() => node.stop());
  assert.deepEqual(node.actors.settings, { mailboxSize: 1, idleMs: 80, leaseTtlMs: 500 });

  const actor = await node.actors.spawn('box', 'b', () => undefined);
  const slow = () => sleep(20);
  const running = actor.invoke(slow);
  const waiting = actor.invoke(slow);
  await assert.rejects(actor.invoke(slow), (err) => (err as { code?: string }).code === ErrorCode.MAILBOX_FULL);
  await Promise.all([running, waiting]);

  assert.equal((await node.actors.call('counter', 'idle', 'add')).text(), '1');
  const deadline = Date.now() + 5000;
  while (node.actors.get('counter', 'idle') && Date.now() < deadline) await sleep(20);
  assert.equal(node.actors.get('counter', 'idle'), undefined, 'deactivated after actor.idleTimeout');

  const bad = dev('actor.leaseTtl="10ms"');
  await assert.rejects(
    createNode(bad, adapters, packetCodec(bad), createDemoApp()),
    (err) => (err as { code?: string }).code === ErrorCode.CONFIG_INVALID && /actor\.leaseTtl/.test(String(err)),
  );
});
