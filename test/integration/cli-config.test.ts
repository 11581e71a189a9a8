import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'duet-cli-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `duet …` to completion (bounded by a deadline) and returns exit code and output. */
async function duet(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toUpperCase().startsWith('DUET')));
  const proc = spawn(process.execPath, ['bin/duet.js', ...args], { cwd: ROOT, env: { ...clean, ...env } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  proc.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('cli config - `duet config print` shows every key with its value and source (file < env < flag)', async () => {
  const r = await duet(['config', 'print', '--role', 'gate', '--set', 'network.ws.server.maxConnNum=7'], {
    DUET__NETWORK__WS__SERVER__HEARTBEATINTERVAL: '15s',
    DUET__LOCATE__REDIS__PASSWORD: 'hunter2',
  });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key} = `)) ?? assert.fail(key);
  assert.match(line('network.ws.server.maxConnNum'), /= 7 +\(flag --set network\.ws\.server\.maxConnNum=7\)$/);
  assert.match(
    line('network.ws.server.heartbeatInterval'),
    /= "15s" +\(env DUET__NETWORK__WS__SERVER__HEARTBEATINTERVAL\)$/,
  );
  assert.match(line('bus.adapter'), /= "nats" +\(config\/gate\.toml\)$/);
  assert.match(line('network.ws.server.rateLimit'), /\(config\/gate\.toml\)$/);
  assert.match(line('cluster.gate.dialRetryTimes'), /= 3 +\(default\)$/);
  assert.ok(!r.stdout.includes('hunter2'), 'secrets are not printed');
});

test('cli config - bad configuration exits 2 with one stderr line naming the source', async () => {
  const dir = join(tmp, 'bad');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'gate.toml'), '[packet]\nrouteBytes = 3\n');
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['gate', '--config', dir], {}, /^duet: .*bad\/gate\.toml:packet\.routeBytes must be 1, 2 or 4, got 3$/],
    [
      ['gate', '--set', 'packet.seqBytes=3'],
      {},
      /^duet: flag --set packet\.seqBytes=3: packet\.seqBytes must be 0, 1, 2 or 4, got 3$/,
    ],
    [
      ['gate'],
      { DUET__NETWORK__WS__SERVER__MAXCONNNUM: '-1' },
      /^duet: env DUET__NETWORK__WS__SERVER__MAXCONNNUM: .* must be an integer >= 1, got -1$/,
    ],
    [
      ['node'],
      { DUET_MODE: 'prod' },
      /^duet: env DUET_MODE: mode must be one of "debug", "test" or "release", got "prod"$/,
    ],
    [['gate', '--bogus'], {}, /^duet: flag: Unknown option '--bogus'$/],
  ];
  for (const [args, env, re] of cases) {
    const r = await duet(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0] as string, re);
  }
});
