// Issue 20 case 9: safer defaults, a minimum resume secret, credentials never printed, every value type-checked,
// and the text log format keeping a cause given as text.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  DEFAULT_AUTHORIZE_TIMEOUT_MS,
  DEFAULT_MAX_CONN_PER_IP,
  formatConfig,
  type LoadOptions,
  loadConfig,
  MIN_RESUME_SECRET_BYTES,
} from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';

const root = mkdtempSync(join(tmpdir(), 'duet-config-hard-'));
after(() => rmSync(root, { recursive: true, force: true }));
const repo = join(import.meta.dirname, '..', '..');

let dirCount = 0;
function load(toml: string, opts: Partial<LoadOptions> = {}) {
  const cwd = join(root, `case-${++dirCount}`);
  mkdirSync(join(cwd, 'config'), { recursive: true });
  writeFileSync(join(cwd, 'config', 'gate.toml'), toml);
  return loadConfig({ role: 'gate', env: {}, argv: ['--config', 'config'], cwd, ...opts });
}

/** The ConfigError `fn` throws, after checking its message is one line. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), err.message);
    return err;
  }
  assert.fail('expected a ConfigError');
}

const PASSWORD = 'Sup3rS3cretPw';
const url = `nats://gate:${PASSWORD}@127.0.0.1:4222`;

test('config hardening - the shipped gate file turns on an authorize timeout and a per-IP cap; code defaults stay due', () => {
  const shipped = loadConfig({ role: 'gate', env: {}, cwd: repo }).config.network.ws.server;
  assert.ok(shipped.authorizeTimeoutMs > 0, 'config/gate.toml sets authorizeTimeout');
  assert.ok(shipped.maxConnPerIp > 0 && shipped.maxConnPerIp < shipped.maxConnNum, 'and a per-IP cap below maxConnNum');
  assert.ok(shipped.handshakeTimeoutMs > 0 && shipped.maxHandshakeNum > 0 && shipped.maxHandshakePerIp > 0);
  const code = load('').config.network.ws.server;
  assert.equal(code.authorizeTimeoutMs, DEFAULT_AUTHORIZE_TIMEOUT_MS);
  assert.equal(code.maxConnPerIp, DEFAULT_MAX_CONN_PER_IP);
  assert.equal(code.handshakeTimeoutMs, 10_000, "due's handshakeTimeout default");
});

test('config hardening - a resume secret shorter than 32 bytes stops the process, without showing it', () => {
  const short = 'x'.repeat(MIN_RESUME_SECRET_BYTES - 1);
  const err = configError(() => load(`[session.resume]\nwindow = "30s"\nsecret = "${short}"\n`));
  assert.match(err.message, /session\.resume\.secret must be at least 32 bytes \(got 31\)/);
  assert.ok(!err.message.includes(short) && err.value === '***');
  assert.throws(() => load('[session.resume]\nwindow = "30s"\nsecret = "k"\n'), ConfigError, 'one character');
  const ok = load(`[session.resume]\nwindow = "30s"\nsecret = "${'x'.repeat(MIN_RESUME_SECRET_BYTES)}"\n`);
  assert.equal(ok.config.session.resume.windowMs, 30_000);
});

test('config hardening - handshakeTimeout 0 is refused: every socket has a deadline before the upgrade', () => {
  const err = configError(() => load('[network.ws.server]\nhandshakeTimeout = "0s"\n'));
  assert.match(err.message, /network\.ws\.server\.handshakeTimeout must be > 0/);
  assert.equal(
    load('[network.ws.server]\nhandshakeTimeout = "250ms"\n').config.network.ws.server.handshakeTimeoutMs,
    250,
  );
});

test('config hardening - a URL password never reaches an error message, its value, or a flag source', () => {
  const errors = [
    configError(() => load(`[bus.nats]\nservers = "${url}"\n`)),
    configError(() => load(`[bus.nats]\nservers = ["${url}", 3]\n`)),
    configError(() => load('', { argv: ['--config', 'config', '--set', `bus.nats.servers=["${url}", 3]`] })),
    configError(() => load('', { env: { DUET__BUS__NATS__SERVERS: `{ a = "${url}" }` } })),
    configError(() => load('', { argv: ['--config', 'config', '--set', `metrics.addr="${url}"`] })),
  ];
  for (const err of errors) {
    assert.match(err.message, /bus\.nats\.servers|metrics\.addr/);
    assert.ok(!err.message.includes(PASSWORD), err.message);
    assert.ok(!JSON.stringify(err.value ?? null).includes(PASSWORD), `value of ${err.message}`);
  }
  const printed = formatConfig(load('', { argv: ['--config', 'config', '--set', `bus.nats.servers=["${url}"]`] }));
  assert.ok(printed.includes('bus.nats.servers') && !printed.includes(PASSWORD), printed);
});

test('config hardening - a list or table given by env or flag for a scalar key is refused (credential keys too)', () => {
  const cases: Array<[Partial<LoadOptions>, RegExp]> = [
    [
      { env: { DUET__BUS__NATS__TOKEN: '["abc"]' } },
      /env DUET__BUS__NATS__TOKEN: bus\.nats\.token must be a string, got "\*\*\*"$/,
    ],
    [{ env: { DUET__LOCATE__REDIS__PASSWORD: '{ a = 1 }' } }, /locate\.redis\.password must be a string/],
    [{ argv: ['--config', 'config', '--set', 'bus.nats.user=["u"]'] }, /bus\.nats\.user must be a string/],
    [{ argv: ['--config', 'config', '--set', 'log.level=["info"]'] }, /log\.level must be one of/],
    [{ argv: ['--config', 'config', '--set', 'bus.nats.servers={ a = "x" }'] }, /must be a list of strings/],
  ];
  for (const [opts, re] of cases) {
    const err = configError(() => load('', opts));
    assert.match(err.message, re);
    assert.ok(!err.message.includes('abc'));
  }
  // env text stays verbatim for scalars: a numeric token is still a token, a comma list is still a list
  const ok = load('', { env: { DUET__BUS__NATS__TOKEN: '123456', DUET__BUS__NATS__SERVERS: 'nats://a:1,nats://b:2' } });
  assert.equal(ok.config.bus.nats.token, '123456');
  assert.deepEqual(ok.config.bus.nats.servers, ['nats://a:1', 'nats://b:2']);
  assert.throws(() => load('[bus.nats]\ntoken = ["abc"]\n'), ConfigError, 'the file form was already refused');
});

test('logger - the text format keeps an err given as text, and no log line carries a URL password', () => {
  const lines: string[] = [];
  const log = createLogger({
    level: 'info',
    format: 'text',
    stdout: true,
    file: '',
    maxSizeBytes: 0,
    maxAgeMs: 0,
    rotateDaily: false,
    classifiedStorage: false,
    caller: false,
    callerFullPath: false,
    stdoutSink: { write: (s: string) => void lines.push(s) },
  });
  log.warn('gate operation failed', { op: 'bind', err: 'locator unavailable: ECONNREFUSED' });
  log.error('bus failed', { err: new Error(`cannot connect to ${url}`) });
  log.close();
  assert.match(lines[0] ?? '', /gate operation failed op=bind err="locator unavailable: ECONNREFUSED"/);
  assert.match(lines[1] ?? '', /bus failed err="cannot connect to nats:\/\/\*\*\*@127\.0\.0\.1:4222"/);
  assert.ok(!lines.join('').includes(PASSWORD), lines.join(''));
});
