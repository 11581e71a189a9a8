import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  DEFAULT_CONFIG_DIR,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_MAX_CONN_NUM,
  formatConfig,
  type LoadOptions,
  loadConfig,
  parseArgs,
} from '../../src/config/index.js';
import { ConfigError, ErrorCode } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'duet-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
/** A fresh cwd with config/gate.toml holding `toml`; returns the cwd. */
function withGateFile(toml: string): string {
  const cwd = join(root, `case-${++dirCount}`);
  mkdirSync(join(cwd, 'config'), { recursive: true });
  writeFileSync(join(cwd, 'config', 'gate.toml'), toml);
  return cwd;
}

function load(toml: string, opts: Partial<LoadOptions> = {}) {
  const cwd = withGateFile(toml);
  return loadConfig({ role: 'gate', env: {}, argv: ['--config', 'config'], cwd, ...opts });
}

/** Runs `fn`, expects a ConfigError, and returns its message after checking it is one line. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, ErrorCode.CONFIG_INVALID);
    assert.ok(!err.message.includes('\n'), `message must be one line: ${err.message}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('config - code defaults apply when no file, env or flag sets a key', () => {
  const { config, sources } = load('');
  assert.equal(config.network.ws.server.maxConnNum, DEFAULT_MAX_CONN_NUM);
  assert.equal(config.network.ws.server.heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS);
  assert.equal(DEFAULT_HEARTBEAT_INTERVAL_MS, 10_000);
  assert.equal(config.network.ws.server.addr, ':3553');
  assert.deepEqual(config.network.ws.server.origins, ['*']);
  assert.equal(config.packet.routeBytes, 2);
  assert.equal(config.locate.redis.prefix, 'due:locate');
  assert.equal(config.bus.nats.prefix, 'duet');
  assert.equal(config.metrics.addr, '');
  assert.equal(config.registry.consul.deregisterCriticalServiceAfterMs, 30_000);
  assert.equal(sources.get('network.ws.server.maxConnNum'), 'default');
});

test('config - precedence is default < file < env < flag, and sources name each', () => {
  const toml = '[network.ws.server]\nmaxConnNum = 10\nwriteQueueSize = 20\nheartbeatInterval = "30s"\n';
  const env = { DUET__NETWORK__WS__SERVER__WRITEQUEUESIZE: '21', DUET__NETWORK__WS__SERVER__HEARTBEATINTERVAL: '1m' };
  const argv = ['--config', 'config', '--set', 'network.ws.server.heartbeatInterval=500ms'];
  const { config, sources } = load(toml, { env, argv });
  const ws = config.network.ws.server;
  assert.equal(ws.maxConnNum, 10);
  assert.equal(ws.writeQueueSize, 21);
  assert.equal(ws.heartbeatIntervalMs, 500);
  assert.equal(ws.authorizeTimeoutMs, 0);
  assert.equal(sources.get('network.ws.server.maxConnNum'), 'config/gate.toml');
  assert.equal(sources.get('network.ws.server.writeQueueSize'), 'env DUET__NETWORK__WS__SERVER__WRITEQUEUESIZE');
  assert.equal(
    sources.get('network.ws.server.heartbeatInterval'),
    'flag --set network.ws.server.heartbeatInterval=500ms',
  );
  assert.equal(sources.get('network.ws.server.authorizeTimeout'), 'default');
});

test('config - the last of repeated --set flags wins', () => {
  const argv = ['--set', 'packet.seqBytes=1', '--set=packet.seqBytes=4'];
  assert.equal(load('', { argv: ['--config', 'config', ...argv] }).config.packet.seqBytes, 4);
});

test('config - env keys match the schema case-insensitively and values parse as TOML', () => {
  const env = {
    duet__packet__byteorder: 'little',
    DUET__Packet__HeartbeatTime: 'true',
    DUET__BUS__NATS__SERVERS: '["nats://a:4222", "nats://b:4222"]',
    DUET__LOCATE__REDIS__ADDRS: 'r1:6379, r2:6379',
    DUET__CLUSTER__GATE__ID: '123',
    DUET__NETWORK__WS__SERVER__ADDR: '127.0.0.1:0',
  };
  const { config } = load('', { env });
  assert.equal(config.packet.byteOrder, 'little');
  assert.equal(config.packet.heartbeatTime, true);
  assert.deepEqual(config.bus.nats.servers, ['nats://a:4222', 'nats://b:4222']);
  assert.deepEqual(config.locate.redis.addrs, ['r1:6379', 'r2:6379']);
  assert.equal(config.cluster.gate.id, '123', 'a string key keeps digits as text');
  assert.equal(config.network.ws.server.addr, '127.0.0.1:0');
});

test('config - a flag value is TOML when it parses: arrays, strings, booleans', () => {
  const argv = [
    '--config',
    'config',
    '--set',
    'network.ws.server.origins=["https://a.example"]',
    '--set',
    'cluster.gate.name="edge 1"',
    '--set',
    'log.stdout=false',
    '--set',
    'network.ws.server.origins=["https://a.example", "https://b.example"]',
  ];
  const { config } = load('', { argv });
  assert.deepEqual(config.network.ws.server.origins, ['https://a.example', 'https://b.example']);
  assert.equal(config.cluster.gate.name, 'edge 1');
  assert.equal(config.log.stdout, false);
});

test('config - durations and sizes in every accepted spelling', () => {
  const toml = [
    'shutdownMaxWaitTime = "1h30m"',
    '[network.ws.server]',
    'authorizeTimeout = "250ms"',
    'heartbeatInterval = 0',
    'writeQueueBytes = "2MB"',
    '[packet]',
    'bufferBytes = "64K"',
    '[registry.consul]',
    'heartbeatCheckInterval = 7',
    'deregisterCriticalServiceAfter = "1500ms"',
    '[log]',
    'maxSize = 1024',
    'maxAge = "1d"',
  ].join('\n');
  const { config } = load(toml);
  assert.equal(config.shutdownMaxWaitTimeMs, 5_400_000);
  assert.equal(config.network.ws.server.authorizeTimeoutMs, 250);
  assert.equal(config.network.ws.server.heartbeatIntervalMs, 0);
  assert.equal(config.network.ws.server.writeQueueBytes, 2 * 1024 * 1024);
  assert.equal(config.packet.bufferBytes, 65_536);
  assert.equal(config.registry.consul.heartbeatCheckIntervalMs, 7000, 'Consul keys take bare seconds as due does');
  assert.equal(config.registry.consul.deregisterCriticalServiceAfterMs, 1500);
  assert.equal(config.log.maxSizeBytes, 1024);
  assert.equal(config.log.maxAgeMs, 86_400_000);
});

test('config - heartbeatWithServerTime is an alias of packet.heartbeatTime from every source', () => {
  const fromFile = load('[network.ws.server]\nheartbeatWithServerTime = true\n');
  assert.equal(fromFile.config.packet.heartbeatTime, true);
  assert.equal(fromFile.sources.get('packet.heartbeatTime'), 'config/gate.toml');
  const fromEnv = load('', { env: { DUET__NETWORK__WS__SERVER__HEARTBEATWITHSERVERTIME: 'true' } });
  assert.equal(fromEnv.config.packet.heartbeatTime, true);
  const fromFlag = load('[packet]\nheartbeatTime = true\n', {
    argv: ['--config', 'config', '--set', 'network.ws.server.heartbeatWithServerTime=false'],
  });
  assert.equal(fromFlag.config.packet.heartbeatTime, false);
  assert.equal(
    fromFlag.sources.get('packet.heartbeatTime'),
    'flag --set network.ws.server.heartbeatWithServerTime=false',
  );
  const legacy = load('[cluster.gate]\ntimeout = "5s"\n');
  assert.equal(legacy.config.cluster.gate.callTimeoutMs, 5000, 'older due docs spell callTimeout "timeout"');
});

test('config - a key and its alias that disagree in one file are refused', () => {
  const msg = configError(() =>
    load('[packet]\nheartbeatTime = false\n[network.ws.server]\nheartbeatWithServerTime = true\n'),
  );
  assert.match(
    msg,
    /config\/gate\.toml:network\.ws\.server\.heartbeatWithServerTime conflicts with config\/gate\.toml:packet\.heartbeatTime/,
  );
});

test('config - metadata tables merge entries from file, env and flags', () => {
  const { config, sources } = load('[cluster.gate.metadata]\nregion = "eu"\nzone = "a"\n', {
    env: { DUET__CLUSTER__GATE__METADATA__zone: 'b' },
    argv: ['--config', 'config', '--set', 'cluster.gate.metadata.rack=7'],
  });
  assert.deepEqual(config.cluster.gate.metadata, { region: 'eu', zone: 'b', rack: '7' });
  assert.equal(sources.get('cluster.gate.metadata.zone'), 'env DUET__CLUSTER__GATE__METADATA__zone');
  assert.equal(sources.get('cluster.gate.metadata.rack'), 'flag --set cluster.gate.metadata.rack=7');
});

test('config - mode: file < DUET__MODE < DUET_MODE < --set mode < --mode', () => {
  assert.equal(load('mode = "test"').config.mode, 'test');
  assert.equal(load('mode = "test"', { env: { DUET__MODE: 'debug' } }).config.mode, 'debug');
  assert.equal(load('mode = "test"', { env: { DUET__MODE: 'debug', DUET_MODE: 'release' } }).config.mode, 'release');
  const both = load('', {
    env: { DUET_MODE: 'test' },
    argv: ['--config', 'config', '--mode', 'release', '--set', 'mode=debug'],
  });
  assert.equal(both.config.mode, 'release');
  assert.equal(both.sources.get('mode'), 'flag --mode release');
});

test('config - DUET_CONFIG names the directory when --config is absent; --config wins', () => {
  const a = withGateFile('[cluster.gate]\nname = "from-a"\n');
  const b = withGateFile('[cluster.gate]\nname = "from-b"\n');
  const viaEnv = loadConfig({ role: 'gate', env: { DUET_CONFIG: join(a, 'config') }, cwd: root });
  assert.equal(viaEnv.config.cluster.gate.name, 'from-a');
  assert.equal(viaEnv.file, join(a, 'config', 'gate.toml'));
  const viaFlag = loadConfig({
    role: 'gate',
    env: { DUET_CONFIG: join(a, 'config') },
    argv: ['--config', join(b, 'config')],
    cwd: root,
  });
  assert.equal(viaFlag.config.cluster.gate.name, 'from-b');
});

test('config - a named config directory without the role file is an error; the default directory is the repo config/', () => {
  const cwd = withGateFile('');
  assert.match(
    configError(() => loadConfig({ role: 'node', env: {}, argv: ['--config', 'config'], cwd })),
    /^--config config: no node\.toml in /,
  );
  assert.match(
    configError(() => loadConfig({ role: 'node', env: { DUET_CONFIG: 'config' }, cwd })),
    /^env DUET_CONFIG=config: no node\.toml/,
  );
  assert.equal(loadConfig({ role: 'gate', env: {}, cwd: root }).file, join(DEFAULT_CONFIG_DIR, 'gate.toml'));
});

test('config - every validation error is one line naming the source, the key and what is allowed', () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => load('[packet]\nrouteBytes = 3\n'), /^config\/gate\.toml:packet\.routeBytes must be 1, 2 or 4, got 3$/],
    [
      () => load('', { env: { DUET__PACKET__ROUTEBYTES: '3' } }),
      /^env DUET__PACKET__ROUTEBYTES: packet\.routeBytes must be 1, 2 or 4, got 3$/,
    ],
    [
      () => load('', { argv: ['--config', 'config', '--set', 'packet.routeBytes=3'] }),
      /^flag --set packet\.routeBytes=3: packet\.routeBytes must be 1, 2 or 4, got 3$/,
    ],
    [
      () => load('[network.ws.server]\nmaxConnNumm = 3\n'),
      /^config\/gate\.toml:network\.ws\.server\.maxConnNumm is not a known key \(did you mean maxConnNum\?\); network\.ws\.server has: addr, path, origins, .*maxConnNum/,
    ],
    [
      () => load('', { env: { DUET__NOPE: '1' } }),
      /^env DUET__NOPE: NOPE is not a known key; the top level has: pid, mode,/,
    ],
    [() => load('[bogus]\nx = 1\n'), /^config\/gate\.toml:bogus is not a known key/],
    [
      () => load('[log]\nlevel = "loud"\n'),
      /^config\/gate\.toml:log\.level must be one of "debug", "info", "warn" or "error", got "loud"$/,
    ],
    [() => load('[network.ws.server]\nmaxConnNum = "many"\n'), /maxConnNum must be an integer >= 1, got "many"$/],
    [() => load('[network.ws.server]\nmaxConnNum = 0\n'), /maxConnNum must be an integer >= 1, got 0$/],
    [() => load('[network.ws.server]\nmaxConnNum = 1.5\n'), /maxConnNum must be an integer >= 1, got 1\.5$/],
    [() => load('[locate.redis]\ndb = 16\n'), /locate\.redis\.db must be an integer from 0 to 15, got 16$/],
    [() => load('[trace]\nsample = 2\n'), /trace\.sample must be a number from 0 to 1, got 2$/],
    [() => load('[log]\nstdout = "yes"\n'), /log\.stdout must be true or false, got "yes"$/],
    [
      () => load('[network.ws.server]\nheartbeatInterval = 10\n'),
      /heartbeatInterval must be a duration such as "10s" \(units ns, us, µs, ms, s, m, h, d\), got 10$/,
    ],
    [
      () => load('[network.ws.server]\nheartbeatInterval = "10 sec"\n'),
      /heartbeatInterval must be a duration .*got "10 sec"$/,
    ],
    [
      () => load('[packet]\nbufferBytes = "5 TB"\n'),
      /packet\.bufferBytes must be a size in bytes, or a string with a unit \(B, K, KB, M, MB, G, GB\), got "5 TB"$/,
    ],
    [() => load('[network.ws.server]\norigins = "*"\n'), /origins must be a list of strings, got "\*"$/],
    [() => load('[network.ws.server]\norigins = [1]\n'), /origins must be a list of strings, got \[1\]$/],
    [() => load('[cluster.gate]\nmetadata = { a = 1 }\n'), /cluster\.gate\.metadata must be a table of string values/],
    [() => load('[packet]\nrouteBytes = \n'), /^config\/gate\.toml: cannot read TOML, line 2 column \d+: /],
    [() => load('[network]\nws = 1\n'), /^config\/gate\.toml:network\.ws is a section; give a table, got 1$/],
    [
      () => load('[packet.routeBytes]\nx = 1\n'),
      /^config\/gate\.toml:packet\.routeBytes must be 1, 2 or 4, got \{"x":1\}$/,
    ],
    [
      () => load('', { argv: ['--config', 'config', '--set', 'packet.routeBytes.x=1'] }),
      /^flag --set packet\.routeBytes\.x=1: packet\.routeBytes\.x is not a known key; packet\.routeBytes is a value, not a section$/,
    ],
    [
      () => load('', { argv: ['--config', 'config', '--set', 'packet.routeBytes'] }),
      /^flag --set packet\.routeBytes: expected dotted\.key=value$/,
    ],
  ];
  for (const [fn, re] of cases) assert.match(configError(fn), re);
});

test('config - checks across keys name the source of the key at fault', () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [
      () => load('[network.ws.server]\nkeyFile = "k.pem"\n'),
      /^config\/gate\.toml:network\.ws\.server\.keyFile is set alone; set both keyFile and certFile/,
    ],
    [
      () => load('', { env: { DUET__SESSION__RESUME__WINDOW: '30s' } }),
      /^env DUET__SESSION__RESUME__WINDOW: session\.resume\.window is on but session\.resume\.secret .* is empty$/,
    ],
    [() => load('timezone = "Mars/Olympus"\n'), /^config\/gate\.toml:timezone must be "Local" or an IANA time zone/],
    [
      () => load('', { argv: ['--config', 'config', '--set', 'metrics.addr=9100'] }),
      /^flag --set metrics\.addr=9100: metrics\.addr must be "" \(off\) or host:port/,
    ],
    [() => load('[network.ws.server]\naddr = "localhost"\n'), /network\.ws\.server\.addr must be host:port/],
    [() => load('[network.ws.server]\npath = "ws"\n'), /network\.ws\.server\.path must start with "\/"/],
    [() => load('[locate.redis]\ncaFile = "ca.pem"\n'), /TLS needs certFile, keyFile and caFile all set, or none$/],
    [() => load('[log]\nclassifiedStorage = true\n'), /^config\/gate\.toml:log\.classifiedStorage needs log\.file/],
  ];
  for (const [fn, re] of cases) assert.match(configError(fn), re);
  const ok = load(
    '[network.ws.server]\nkeyFile = "k.pem"\ncertFile = "c.pem"\n[session.resume]\nwindow = "30s"\nsecret = "s3-0123456789abcdef0123456789abcdef"\n',
  );
  assert.equal(ok.config.session.resume.windowMs, 30_000);
  assert.equal(load('timezone = "Asia/Shanghai"\n').config.timezone, 'Asia/Shanghai');
});

test('config - a secret never appears in a flag source or an error message', () => {
  const { sources } = load('', { argv: ['--config', 'config', '--set', 'locate.redis.password=hunter2'] });
  assert.equal(sources.get('locate.redis.password'), 'flag --set locate.redis.password=***');
  const msg = configError(() => load('[bus.nats]\ntoken = 123456\n'));
  assert.doesNotMatch(msg, /123456/);
  assert.throws(
    () => load('[bus.nats]\ntoken = 123456\n'),
    (err: unknown) => err instanceof ConfigError && err.value === '***',
    'the error object does not carry the secret either',
  );
  assert.match(msg, /^config\/gate\.toml:bus\.nats\.token must be a string, got "\*\*\*"$/);
});

test('config - the bundled gate, node and dev files load, and every key has a comment', () => {
  const gate = loadConfig({ role: 'gate', env: {}, cwd: root });
  assert.deepEqual(
    [gate.config.bus.adapter, gate.config.locate.adapter, gate.config.registry.adapter],
    ['nats', 'redis', 'consul'],
  );
  const node = loadConfig({ role: 'node', env: {}, cwd: root });
  assert.deepEqual([node.config.bus.adapter, node.config.locate.adapter], ['nats', 'redis']);
  const dev = loadConfig({ role: 'dev', env: {}, cwd: root });
  assert.deepEqual(
    [dev.config.bus.adapter, dev.config.locate.adapter, dev.config.registry.adapter],
    ['memory', 'memory', 'memory'],
  );
  for (const role of ['gate', 'node', 'dev']) {
    const lines = readFileSync(join(DEFAULT_CONFIG_DIR, `${role}.toml`), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/^\s*[A-Za-z]\w*\s*=/.test(line)) {
        assert.match(lines[i - 1] ?? '', /^# \S/, `${role}.toml line ${i + 1} (${line}) needs a comment line above it`);
      }
    });
  }
});

test('config - print lists every key with its effective value and source, secrets hidden', () => {
  const result = load('[network.ws.server]\nmaxConnNum = 10\n[locate.redis]\npassword = "hunter2"\n', {
    env: { DUET__CLUSTER__GATE__METADATA__REGION: 'eu' },
    argv: ['--config', 'config', '--set', 'network.ws.server.heartbeatInterval=1m30s'],
  });
  const text = formatConfig(result);
  const lines = text.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^# duet config, role gate, file .*gate\.toml$/);
  const line = (key: string) => lines.find((l) => l.startsWith(`${key} = `)) ?? assert.fail(`no line for ${key}`);
  assert.match(line('network.ws.server.maxConnNum'), /^network\.ws\.server\.maxConnNum = 10 +\(config\/gate\.toml\)$/);
  assert.match(
    line('network.ws.server.heartbeatInterval'),
    /= "90s" +\(flag --set network\.ws\.server\.heartbeatInterval=1m30s\)$/,
  );
  assert.match(line('network.ws.server.writeQueueBytes'), /= "4MB" +\(default\)$/);
  assert.match(line('packet.bufferBytes'), /= 5000 +\(default\)$/);
  assert.match(line('network.ws.server.origins'), /= \["\*"\] +\(default\)$/);
  assert.match(line('cluster.gate.metadata.REGION'), /= "eu" +\(env DUET__CLUSTER__GATE__METADATA__REGION\)$/);
  assert.match(line('locate.redis.password'), /= "\*\*\*" +\(config\/gate\.toml\)$/);
  assert.doesNotMatch(text, /hunter2/);
  for (const key of result.sources.keys()) {
    assert.ok(
      lines.some((l) => l.startsWith(`${key} = `) || l.startsWith(`${key}.`)),
      `no line for ${key}`,
    );
  }
});

test('config - parseArgs reads the command, repeatable --set, --help and command options', () => {
  const a = parseArgs([
    'node',
    '--app',
    './my-app.ts',
    '--set',
    'a.b=1',
    '--set=c.d=2',
    '-h',
    '--config=cfg',
    '--mode',
    'test',
  ]);
  assert.deepEqual(a.command, ['node']);
  assert.equal(a.app, './my-app.ts');
  assert.deepEqual(a.set, ['a.b=1', 'c.d=2']);
  assert.equal(a.help, true);
  assert.equal(a.config, 'cfg');
  assert.equal(a.mode, 'test');
  const t = parseArgs(['trace', '--uid', '42', '--json'], { uid: { type: 'string' }, json: { type: 'boolean' } });
  assert.deepEqual(t.command, ['trace']);
  assert.deepEqual(t.options, { uid: '42', json: true });
  assert.equal(t.help, false);
  assert.deepEqual(parseArgs(['config', 'print']).command, ['config', 'print']);
  assert.match(
    configError(() => parseArgs(['gate', '--bogus'])),
    /^flag: Unknown option '--bogus'/,
  );
});
