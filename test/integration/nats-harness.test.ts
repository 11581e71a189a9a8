import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pollUntil, startNats, startNatsCluster } from '../harness/nats.js';

const run = promisify(execFile);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('nats harness', () => {
  it('nats harness - restart() comes back on the same port with the same JetStream store', async () => {
    await using server = await startNats({ jetstream: true });
    const { port, url } = server;
    const firstPid = server.pid;
    let nc = await connect({ servers: [url] });
    let jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.>'] });
    await nc.close();

    await server.restart();
    assert.equal(server.port, port);
    assert.notEqual(server.pid, firstPid);
    assert.equal(isAlive(firstPid), false, 'the old process is gone');
    nc = await connect({ servers: [url] });
    jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('HARNESS');
    assert.deepEqual(info.config.subjects, ['harness.>']);
    await nc.close();
  });

  it('nats harness - kill() is abrupt, stop() is safe twice, dispose removes the temp dir', async () => {
    const server = await startNats();
    const pid = server.pid;
    await server.kill();
    assert.equal(server.running, false);
    assert.equal(isAlive(pid), false);
    await server.stop();
    await server.stop();
    await server.restart();
    assert.equal(server.running, true);
    await server[Symbol.asyncDispose]();
    assert.equal(server.running, false);
    assert.equal(existsSync(server.dir), false);
  });

  it('nats harness - a JetStream cluster of 3 is formed with a meta leader before it is handed out', async () => {
    await using cluster = await startNatsCluster(3, { jetstream: true });
    for (const s of cluster.servers) {
      const res = await fetch(`${s.monitorUrl}/jsz`);
      const jsz = (await res.json()) as { meta_cluster?: { leader?: string; cluster_size?: number } };
      assert.ok(jsz.meta_cluster?.leader, `${s.name} knows the leader`);
      assert.equal(jsz.meta_cluster?.cluster_size, 3);
    }
    const nc = await connect({ servers: cluster.urls });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: 'REPLICATED', subjects: ['replicated.>'], num_replicas: 3 });
    assert.equal(info.config.num_replicas, 3);
    await nc.close();
  });

  it('nats harness - a server left running when the test process exits is killed', async () => {
    // A child test process that starts a server and exits without stopping it.
    const harness = new URL('../harness/nats.ts', import.meta.url).href;
    const code = `const { startNats } = await import(${JSON.stringify(harness)});
const s = await startNats(); console.log(JSON.stringify({ pid: s.pid, dir: s.dir }));`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      timeout: 30_000,
    });
    const leaked = JSON.parse(stdout.trim()) as { pid: number; dir: string };
    assert.ok(leaked.pid > 0);
    await pollUntil(() => !isAlive(leaked.pid), 5_000, `leaked nats-server ${leaked.pid} to be killed`);
    assert.equal(existsSync(leaked.dir), false, 'its temp dir is removed');
  });
});
