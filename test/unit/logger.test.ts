import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createLogger, type LoggerOptions, loggerOptions, silentLogger } from '../../src/log/logger.js';
import { redactFields } from '../../src/log/redact.js';
import { dayKey, RotatingFile } from '../../src/log/rotating-file.js';

const root = mkdtempSync(join(tmpdir(), 'duet-log-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `case-${++n}`);

function collector(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

const base: LoggerOptions = {
  level: 'info',
  format: 'json',
  stdout: true,
  file: '',
  maxSizeBytes: 0,
  maxAgeMs: 0,
  rotateDaily: false,
  classifiedStorage: false,
  caller: false,
  callerFullPath: false,
};

test('logger - json lines carry the level label, message, and child bindings gate/cid/uid/route', () => {
  const out = collector();
  const log = createLogger({ ...base, stdoutSink: out });
  log.child({ gate: 'g1', cid: 7 }).child({ uid: 1001 }).info('session bound', { route: 2 });
  log.debug('not written at level info');
  assert.equal(out.lines.length, 1);
  const rec = JSON.parse(out.lines[0] as string);
  assert.equal(rec.level, 'info');
  assert.equal(rec.msg, 'session bound');
  assert.deepEqual([rec.gate, rec.cid, rec.uid, rec.route], ['g1', 7, 1001, 2]);
  assert.equal(typeof rec.time, 'number');
});

test('logger - text lines are one readable line with time, level, message and fields', () => {
  const out = collector();
  const log = createLogger({ ...base, format: 'text', level: 'debug', timezone: 'UTC', stdoutSink: out });
  log.child({ gate: 'g1', cid: 7 }).warn('slow consumer', { uid: 1001, reason: 'queue full' });
  log.error('handler failed', { err: new Error('boom') });
  assert.match(
    out.lines[0] as string,
    /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} WARN {2}slow consumer gate=g1 cid=7 uid=1001 reason="queue full"\n$/,
  );
  assert.match(out.lines[1] as string, /^\S+ \S+ ERROR handler failed err=boom\n {4}at /);
});

test('logger - secrets are redacted in fields, child bindings, nested objects and URLs', () => {
  const out = collector();
  const log = createLogger({ ...base, stdoutSink: out });
  log.child({ token: 'tok-1' }).info('connecting', {
    password: 'pw-1',
    pass: 'pw-2',
    secret: 'pw-3',
    redisPassword: 'pw-4',
    nested: { apiToken: 'pw-5', list: [{ clientSecret: 'pw-6' }] },
    servers: ['nats://user:pw-7@127.0.0.1:4222'],
    route: 2,
  });
  const line = out.lines.join('');
  for (const secret of ['tok-1', 'pw-1', 'pw-2', 'pw-3', 'pw-4', 'pw-5', 'pw-6', 'pw-7'])
    assert.ok(!line.includes(secret), secret);
  const rec = JSON.parse(line);
  assert.equal(rec.password, '***');
  assert.equal(rec.redisPassword, '***');
  assert.deepEqual(rec.servers, ['nats://***@127.0.0.1:4222']);
  assert.equal(rec.route, 2, 'other fields are kept');
  assert.deepEqual(redactFields({ tokens: 3, passage: 'x' }), { tokens: 3, passage: 'x' }, 'no false positives');
  assert.deepEqual(redactFields({ packet: new Uint8Array([0, 0, 0, 1, 0x80]), big: new Uint8Array(100) }), {
    packet: '0000000180 (5 B)',
    big: `${'00'.repeat(32)}… (100 B)`,
  });
});

test('logger - file output without stdout, per-level files with classifiedStorage', () => {
  const dir = freshDir();
  const out = collector();
  const file = join(dir, 'gate.log');
  const log = createLogger({ ...base, stdout: false, stdoutSink: out, file, classifiedStorage: true, level: 'debug' });
  log.info('one');
  log.error('two');
  log.error('three');
  log.close();
  log.close();
  assert.equal(out.lines.length, 0);
  const msgs = (f: string) =>
    readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg);
  assert.deepEqual(msgs('gate.log'), ['one', 'two', 'three']);
  assert.deepEqual(msgs('gate.error.log'), ['two', 'three']);
  assert.deepEqual(msgs('gate.info.log'), ['one']);
  assert.equal(existsSync(join(dir, 'gate.debug.log')), false);
});

test('logger - caller names this file and line when asked', () => {
  const out = collector();
  createLogger({ ...base, caller: true, stdoutSink: out }).info('here');
  const full = collector();
  createLogger({ ...base, caller: true, callerFullPath: true, stdoutSink: full }).info('here');
  assert.match(JSON.parse(out.lines[0] as string).caller, /^logger\.test\.ts:\d+$/);
  assert.match(JSON.parse(full.lines[0] as string).caller, /\/test\/unit\/logger\.test\.ts:\d+$/);
});

test('logger - options come from the [log] section', () => {
  const { config } = loadConfig({
    role: 'dev',
    env: {},
    argv: ['--set', 'log.file="/tmp/x.log"', '--set', 'log.maxSize=1MB', '--set', 'log.level=warn'],
  });
  const o = loggerOptions(config);
  assert.equal(o.file, '/tmp/x.log');
  assert.equal(o.maxSizeBytes, 1024 * 1024);
  assert.equal(o.level, 'warn');
  assert.equal(o.format, config.log.format);
});

test('logger - silentLogger drops everything and its children are silent too', () => {
  assert.equal(silentLogger.child({ a: 1 }), silentLogger);
  assert.equal(silentLogger.isLevelEnabled('error'), false);
});

test('rotating file - rotates by size, keeps every line in order, never splits a line', () => {
  const dir = freshDir();
  const f = new RotatingFile({ path: join(dir, 'app.log'), maxSizeBytes: 100, rotateDaily: false, maxAgeMs: 0 });
  const lines = Array.from({ length: 40 }, (_, i) => `line ${String(i).padStart(2, '0')} ${'x'.repeat(20)}\n`);
  for (const l of lines) f.write(l);
  f.close();
  const rotated = f.rotatedFiles();
  assert.ok(rotated.length >= 10, `expected ten or more rotations, got ${rotated.length}`);
  const day = dayKey(Date.now());
  for (const [i, file] of rotated.entries()) assert.equal(basename(file), `app.${day}.${i + 1}.log`);
  const files = [...rotated, join(dir, 'app.log')];
  for (const file of files) assert.ok(statSync(file).size <= 100, file);
  assert.equal(files.map((file) => readFileSync(file, 'utf8')).join(''), lines.join(''));
});

test('rotating file - rotates when the day changes, naming the file after the day it holds', () => {
  const dir = freshDir();
  let now = new Date(2026, 0, 10, 23, 59).getTime();
  const f = new RotatingFile({
    path: join(dir, 'app.log'),
    maxSizeBytes: 0,
    rotateDaily: true,
    maxAgeMs: 0,
    now: () => now,
  });
  f.write('before midnight\n');
  now += 2 * 60_000;
  f.write('after midnight\n');
  f.close();
  assert.deepEqual(readdirSync(dir).sort(), ['app.2026-01-10.1.log', 'app.log']);
  assert.equal(readFileSync(join(dir, 'app.2026-01-10.1.log'), 'utf8'), 'before midnight\n');
  assert.equal(readFileSync(join(dir, 'app.log'), 'utf8'), 'after midnight\n');
});

test('rotating file - rotated files older than maxAge are deleted, others and unrelated files kept', () => {
  const dir = freshDir();
  const now = Date.now();
  const f0 = new RotatingFile({ path: join(dir, 'app.log'), maxSizeBytes: 0, rotateDaily: false, maxAgeMs: 0 });
  f0.close();
  const old = join(dir, 'app.2026-01-01.1.log');
  const fresh = join(dir, 'app.2026-01-09.1.log');
  const other = join(dir, 'other.2026-01-01.1.log');
  for (const p of [old, fresh, other]) writeFileSync(p, 'x\n');
  const tenDaysAgo = (now - 10 * 86_400_000) / 1000;
  utimesSync(old, tenDaysAgo, tenDaysAgo);
  utimesSync(other, tenDaysAgo, tenDaysAgo);
  const f = new RotatingFile({
    path: join(dir, 'app.log'),
    maxSizeBytes: 0,
    rotateDaily: false,
    maxAgeMs: 7 * 86_400_000,
  });
  f.close();
  assert.equal(existsSync(old), false);
  assert.equal(existsSync(fresh), true);
  assert.equal(existsSync(other), true);
});
