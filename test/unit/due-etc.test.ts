import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'due-etc');

test("due etc - a gate etc.toml loads as it is; every gate key lands on duet's setting", () => {
  const { config, sources, warnings, file } = loadConfig({
    role: 'gate',
    env: {},
    argv: ['--etc', 'test/fixtures/due-etc/gate'],
    cwd: ROOT,
  });
  assert.equal(file, undefined, 'the bundled config/gate.toml is not read when --etc is given alone');
  assert.equal(config.pid, './run/gate.pid');
  assert.equal(config.mode, 'release');
  assert.equal(config.shutdownMaxWaitTimeMs, 5000);
  const g = config.cluster.gate;
  assert.deepEqual(
    [g.id, g.name, g.dispatch, g.callTimeoutMs, g.metadata],
    ['gate-1', 'lobby', 'rr', 4000, { region: 'eu' }],
  );
  assert.deepEqual(config.packet, {
    byteOrder: 'little',
    routeBytes: 4,
    seqBytes: 2,
    bufferBytes: 100000,
    heartbeatTime: true,
  });
  // due's nested [log.*] tables.
  assert.equal(config.log.level, 'warn');
  assert.equal(config.log.file, './log/gate.log');
  assert.equal(config.log.format, 'json');
  assert.equal(config.log.maxAgeMs, 3 * 86_400_000);
  assert.equal(config.log.maxSizeBytes, 50 * 1024 * 1024);
  assert.equal(config.log.rotateDaily, true);
  assert.equal(config.log.callerFullPath, true);
  assert.equal(config.log.stdout, true);
  // The only registry section present picks the adapter; [locate.redis] picks redis.
  assert.equal(config.registry.adapter, 'etcd');
  assert.deepEqual([...config.registry.etcd.addrs], ['127.0.0.1:2379']);
  assert.equal(config.registry.etcd.namespace, 'games');
  assert.equal(config.locate.adapter, 'redis');
  assert.equal(config.locate.redis.db, 2);
  const ws = config.network.ws.server;
  assert.deepEqual([ws.addr, ws.maxConnNum, ws.heartbeatIntervalMs], [':3553', 6000, 15_000]);
  assert.equal(ws.handshakeTimeoutMs, 10_000, "due's handshakeTimeout (dead in due since v2.5.4) is duet's");
  const tcp = config.network.tcp.server;
  assert.deepEqual(
    [tcp.addr, tcp.maxConnNum, tcp.writeQueueSize, tcp.heartbeatIntervalMs],
    [':3554', 7000, 512, 15_000],
  );
  // Sources name the etc file and the due key.
  assert.equal(sources.get('log.file'), 'test/fixtures/due-etc/gate/etc.toml:log.file.path');
  assert.equal(sources.get('registry.adapter'), 'test/fixtures/due-etc/gate/etc.toml:registry.etcd.addrs');
  assert.equal(sources.get('network.tcp.server.addr'), 'test/fixtures/due-etc/gate/etc.toml:network.tcp.server.addr');
  // One warning names what duet does not implement, drpc keys included.
  assert.equal(warnings.length, 1);
  const w = warnings[0] ?? '';
  for (const key of [
    'network.tcp.server.writeTimeout',
    'log.{stackLevel,timeFormat,callSkip}',
    'log.file.compress',
    'cluster.gate.{addr,expose,connNum,dialTimeout,dialRetryTimes,writeTimeout,writeQueueSize,faultRecoveryTime}',
  ]) {
    assert.ok(w.includes(key), `warning names ${key}: ${w}`);
  }
  assert.ok(!w.includes('cluster.gate.name') && !w.includes('registry.etcd'), w);
});

test('due etc - a node etc.toml: consul and json codec, fatal maps to error, console-only logs, other files named', () => {
  const { config, warnings } = loadConfig({ role: 'node', env: { DUE_ETC: 'test/fixtures/due-etc/node' }, cwd: ROOT });
  const n = config.cluster.node;
  assert.deepEqual([n.name, n.codec, n.weight, n.metadata], ['game', 'json', 3, { build: '42' }]);
  assert.equal(config.registry.adapter, 'consul');
  assert.equal(config.log.level, 'error');
  assert.equal(config.log.stdout, true);
  assert.equal(config.log.file, '', 'terminals without "file" write no file');
  const w = warnings.join('\n');
  for (const key of ['log.file.rotate', 'transport.grpc.server.{', 'eventbus.nats.{url,timeout,prefix}', 'game.toml']) {
    assert.ok(w.includes(key), `warning names ${key}: ${w}`);
  }
});

test('due etc - a TCP-only gate file: TCP on, its heartbeat keys set the gate-wide ones; other sections ignored', () => {
  const { config, warnings } = loadConfig({
    role: 'gate',
    env: {},
    argv: ['--etc', join(FIXTURES, 'full')],
    cwd: ROOT,
  });
  assert.equal(config.network.tcp.server.addr, ':3600');
  assert.equal(config.network.ws.server.heartbeatIntervalMs, 20_000);
  assert.equal(config.network.ws.server.heartbeatMechanism, 'tick');
  const w = warnings[0] ?? '';
  for (const key of [
    'network.tcp.client.{addr,dialTimeout}',
    'cluster.mesh.name',
    'registry.nacos.urls',
    'http.{addr,bodyLimit}',
  ]) {
    assert.ok(w.includes(key), `warning names ${key}: ${w}`);
  }
});

test('due etc - without --etc or DUE_ETC the bundled config loads as before, with no warning', () => {
  const r = loadConfig({ role: 'gate', env: {}, cwd: ROOT });
  assert.ok(r.file?.endsWith(join('config', 'gate.toml')));
  assert.deepEqual(r.warnings, []);
  assert.equal(r.config.network.tcp.server.addr, '');
});

test('due etc - env and --set still override the etc file; a missing directory stops with one line', () => {
  const r = loadConfig({
    role: 'gate',
    env: { DUET__CLUSTER__GATE__NAME: 'from-env' },
    argv: ['--etc', 'test/fixtures/due-etc/gate', '--set', 'network.ws.server.maxConnNum=9'],
    cwd: ROOT,
  });
  assert.equal(r.config.cluster.gate.name, 'from-env');
  assert.equal(r.config.network.ws.server.maxConnNum, 9);
  assert.throws(
    () => loadConfig({ role: 'gate', env: {}, argv: ['--etc', 'no/such/dir'], cwd: ROOT }),
    (e: unknown) =>
      e instanceof ConfigError && /^--etc no\/such\/dir: no\/such\/dir is not a directory$/.test(e.message),
  );
});

test('due etc - duet config print shows each value with its due source and the warning', () => {
  const r = spawnSync(process.execPath, ['bin/duet.js', 'config', 'print', '--etc', 'test/fixtures/due-etc/gate'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^# warning: \d+ due etc keys duet does not implement are ignored: /m);
  assert.match(
    r.stdout,
    /^log\.file = "\.\/log\/gate\.log"\s+\(test\/fixtures\/due-etc\/gate\/etc\.toml:log\.file\.path\)$/m,
  );
  assert.match(
    r.stdout,
    /^registry\.etcd\.namespace = "games"\s+\(test\/fixtures\/due-etc\/gate\/etc\.toml:registry\.etcd\.namespace\)$/m,
  );
  assert.match(r.stdout, /^bus\.adapter = "memory"\s+\(default\)$/m);
});
