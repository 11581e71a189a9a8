// No secret in logs (issue 10): duet processes get a NATS token / password, a Redis password and a resume secret
// through --set and DUET__ env variables, log at debug level to stdout and to a file, run into errors (Redis
// killed, NATS gone, unreachable servers) and never print a secret. Also proves the credentials are passed through:
// with token-protected NATS and password-protected Redis, logins work.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startDuet } from '../harness/duet-process.js';
import { freePort } from '../harness/free-port.js';
import { startNats } from '../harness/nats.js';
import { startRedis } from '../harness/redis.js';
import { connect } from '../harness/ws-client.js';

const BIN = fileURLToPath(new URL('../../bin/duet.js', import.meta.url));
const SECRETS = {
  natsToken: 'natsTok3n-Zq81',
  natsPass: 'natsPa55-Wm27',
  natsUrlPass: 'urlPa55-Hk64',
  redisPass: 'redisPa55-Jx90',
  resumeSecret: 'resumeS3cret-Lp53-0123456789abcdef',
} as const;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'duet-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file the logger wrote under `dir` (rotation may add suffixed files), concatenated. */
function logFiles(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

function assertNoSecret(where: string, text: string): void {
  for (const [name, value] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(value), `${name} (${value}) appears in ${where}:\n${excerpt(text, value)}`);
  }
}

function excerpt(text: string, value: string): string {
  const i = text.indexOf(value);
  return text.slice(Math.max(0, i - 300), i + 100);
}

test('secrets - token NATS and password Redis work, and no secret reaches stdout, stderr or the log file through outages', async (t) => {
  const nats = await startNats({ args: ['--auth', SECRETS.natsToken] });
  t.after(() => nats[Symbol.asyncDispose]());
  const redis = await startRedis();
  t.after(() => redis[Symbol.asyncDispose]());
  // The harness's readiness PING has no password, so the password is set once the server is up.
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  await admin.config('SET', 'requirepass', SECRETS.redisPass);
  admin.disconnect();

  const dir = tempDir(t);
  const logFile = join(dir, 'duet.log');
  const port = await freePort();
  const dev = await startDuet(
    [
      'dev',
      '--set',
      `network.ws.server.addr="127.0.0.1:${port}"`,
      '--set',
      'bus.adapter="nats"',
      '--set',
      `bus.nats.servers=["${nats.url}"]`,
      '--set',
      `bus.nats.token="${SECRETS.natsToken}"`,
      '--set',
      'locate.adapter="redis"',
      '--set',
      `locate.redis.addrs=["${redis.addr}"]`,
      '--set',
      'locate.redis.maxRetries=0',
      '--set',
      'session.resume.window="30s"',
      '--set',
      'log.level="debug"',
      '--set',
      `log.file="${logFile}"`,
    ],
    {
      env: {
        DUET__LOCATE__REDIS__PASSWORD: SECRETS.redisPass,
        DUET__SESSION__RESUME__SECRET: SECRETS.resumeSecret,
      },
    },
  );
  t.after(() => dev.kill());

  // The credentials were passed through: echo over the token-protected NATS, login through the protected Redis.
  const c = await connect(`ws://127.0.0.1:${port}/`);
  t.after(() => c[Symbol.asyncDispose]());
  assert.equal((await c.request(1, 'hello', 5000)).text, 'hello');
  assert.equal((await c.request(2, '42', 5000)).text, '42');

  // Redis goes away: a login now fails inside the gate and the node; errors get logged.
  await redis.kill();
  const failed = await c.request(2, '43', 4000).then(
    (r) => r.text,
    (err: Error) => `no answer: ${err.message}`,
  );
  assert.notEqual(failed, '43', 'a login cannot succeed without Redis');
  // NATS goes away too: the bus reconnects and says so.
  await nats.stop();
  await dev.waitFor(/nats|bus|reconnect/i, 15_000);
  const code = await dev.stop('SIGTERM', 15_000);
  t.diagnostic(`duet dev exited with ${code}; login during the Redis outage: ${failed.slice(0, 120)}`);

  const file = logFiles(dir);
  assert.ok(file.length > 0, 'the log file was written');
  const problems = file.split('\n').filter((l) => /\b(warn|error)\b/i.test(l) && /redis|locat|nats|bus/i.test(l));
  t.diagnostic(`${file.split('\n').length} log file lines, ${problems.length} warn/error lines about Redis or NATS`);
  assert.ok(problems.length > 0, `the outages were logged:\n${file.slice(-2000)}`);
  assertNoSecret('stdout/stderr', dev.output);
  assertNoSecret('the log file', file);
});

test('secrets - unreachable NATS (credentials in the URL and in config) and Redis: errors name no secret', async (t) => {
  const dir = tempDir(t);
  const logFile = join(dir, 'gate.log');
  const [deadNats, deadRedis, wsPort] = [await freePort(), await freePort(), await freePort()];
  const proc = spawn(
    process.execPath,
    [
      BIN,
      'gate',
      '--set',
      `network.ws.server.addr="127.0.0.1:${wsPort}"`,
      '--set',
      'bus.adapter="nats"',
      '--set',
      `bus.nats.servers=["nats://alice:${SECRETS.natsUrlPass}@127.0.0.1:${deadNats}"]`,
      '--set',
      'bus.nats.user="alice"',
      '--set',
      `bus.nats.pass="${SECRETS.natsPass}"`,
      '--set',
      'locate.adapter="redis"',
      '--set',
      `locate.redis.addrs=["127.0.0.1:${deadRedis}"]`,
      '--set',
      'registry.adapter="memory"',
      '--set',
      'log.level="debug"',
      '--set',
      `log.file="${logFile}"`,
    ],
    {
      env: {
        ...process.env,
        DUET__LOCATE__REDIS__PASSWORD: SECRETS.redisPass,
        DUET__SESSION__RESUME__WINDOW: '30s',
        DUET__SESSION__RESUME__SECRET: SECRETS.resumeSecret,
        DUET__BUS__NATS__TOKEN: SECRETS.natsToken,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = once(proc, 'exit');
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  // It either gives up (exit 1) or keeps retrying; after 15 s it is stopped either way.
  const timer = setTimeout(() => proc.kill('SIGTERM'), 15_000);
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  t.diagnostic(`duet gate against dead servers: exit ${code ?? signal}; last line: ${out.trim().split('\n').pop()}`);
  assert.ok(out.length > 0, 'it said something');
  assert.match(out, /nats|bus|connect|redis/i, 'the failure names what failed');
  assertNoSecret('stdout/stderr', out);
  assertNoSecret('the log file', logFiles(dir));
});

/** Runs `duet config print --role gate` with the secrets given by flag and env; resolves with its output. */
async function configPrint(): Promise<string> {
  const proc = spawn(
    process.execPath,
    [
      BIN,
      'config',
      'print',
      '--role',
      'gate',
      '--set',
      `bus.nats.token="${SECRETS.natsToken}"`,
      '--set',
      `bus.nats.servers=["nats://alice:${SECRETS.natsUrlPass}@127.0.0.1:4222"]`,
      '--set',
      `session.resume.secret="${SECRETS.resumeSecret}"`,
    ],
    {
      env: {
        ...process.env,
        DUET__BUS__NATS__PASS: SECRETS.natsPass,
        DUET__LOCATE__REDIS__PASSWORD: SECRETS.redisPass,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  assert.equal(code, 0, out);
  return out;
}

test('secrets - `duet config print` masks every secret key, given by --set or by env', async () => {
  const out = await configPrint();
  const line = (key: string): string => out.split('\n').find((l) => l.startsWith(`${key} = `)) ?? assert.fail(key);
  for (const key of ['bus.nats.token', 'bus.nats.pass', 'locate.redis.password', 'session.resume.secret']) {
    assert.match(line(key), /= "\*\*\*"/, key);
  }
  const { natsUrlPass: _inUrl, ...keyed } = SECRETS;
  for (const [name, value] of Object.entries(keyed)) assert.ok(!out.includes(value), `${name} printed`);
});

// config print masks secret keys and credentials inside server URLs (value and flag source).
test('secrets - `duet config print` hides credentials inside server URLs', async () => {
  assertNoSecret('config print', await configPrint());
});

// The NATS KV registry connects with the bus's credentials.
test('secrets - the NATS KV registry uses the bus credentials (token-protected NATS)', async (t) => {
  const nats = await startNats({ jetstream: true, args: ['--auth', SECRETS.natsToken] });
  t.after(() => nats[Symbol.asyncDispose]());
  const gate = await startDuet([
    'gate',
    '--set',
    'network.ws.server.addr="127.0.0.1:0"',
    '--set',
    'bus.adapter="nats"',
    '--set',
    `bus.nats.servers=["${nats.url}"]`,
    '--set',
    `bus.nats.token="${SECRETS.natsToken}"`,
    '--set',
    'locate.adapter="memory"',
    '--set',
    'registry.adapter="nats"',
    '--set',
    'log.level="warn"',
  ]);
  t.after(() => gate.kill());
  assertNoSecret('stdout/stderr', gate.output);
});
