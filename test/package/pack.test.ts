// duet as a user gets it (issue 16): `npm pack` (its prepack builds dist/ in a staged copy of the repository),
// installed from the tarball into a temporary project from the npm cache, then: plain Node ESM imports of `duet`
// and `duet/client`, the installed CLI (a gate and a JavaScript node app on a real NATS, answered through
// `duet/client`), a TypeScript app refused with one clear line, a strict nodenext TypeScript consumer type-checked
// against the shipped .d.ts, `duet/client` bundled for browsers without Node built-ins, and publint on the tarball.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { startDuet } from '../harness/duet-process.js';
import { freePort } from '../harness/free-port.js';
import { type NatsServer, startNats } from '../harness/nats.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'node_modules', '.bin');
/** What the package needs to build itself; node_modules is linked, not copied. */
const STAGED = ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'scripts', 'src'];
STAGED.push('actors', 'config', 'proto', 'web', 'docs');

/** The parent `npm test` exports npm_* settings and a test may export DUET_*: a user's shell has neither. */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.entries(process.env).filter(([k]) => !/^(npm_|duet)/i.test(k) && k !== 'NODE_OPTIONS');
  return Object.fromEntries(env);
}

async function sh(cmd: string, args: string[], cwd: string, timeout = 60_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: userEnv(), timeout, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const version = (pkg: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

describe('package', { timeout: 180_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'duet-package-'));
  const stage = join(tmp, 'stage');
  const project = join(tmp, 'project');
  let tarball = '';
  let files: string[] = [];
  let nats: NatsServer | undefined;

  before(async () => {
    mkdirSync(stage);
    for (const p of STAGED) cpSync(join(ROOT, p), join(stage, p), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
    const out = await sh('npm', ['pack', '--json', '--pack-destination', tmp], stage, 120_000);
    // prepack's own output comes first on stdout; npm's JSON report is the rest.
    const packed = JSON.parse(out.slice(out.search(/^\[/m))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(tmp, packed[0]?.filename ?? '');
    files = (packed[0]?.files ?? []).map((f) => f.path);
    cpSync(join(ROOT, 'test', 'package', 'consumer'), project, { recursive: true });
    const deps = [
      tarball,
      `ws@${version('ws')}`,
      `@types/node@${version('@types/node')}`,
      `@types/ws@${version('@types/ws')}`,
    ];
    await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', ...deps], project, 120_000);
  });
  after(async () => {
    await nats?.[Symbol.asyncDispose]();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('the tarball holds the build, the CLI, config and protos; no sources, tests or CI files', () => {
    for (const f of ['bin/duet.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/client/index.js']) {
      assert.ok(files.includes(f), `${f} missing from ${files.length} files`);
    }
    for (const f of ['dist/src/generated/cluster.js', 'dist/web/app.js', 'config/gate.toml', 'proto/demo.proto']) {
      assert.ok(files.includes(f), `${f} missing`);
    }
    const strays = files.filter(
      (f) => /^(test|\.ci|scripts|src)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    assert.deepEqual(strays, []);
    assert.ok(!('tsx' in JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')).dependencies));
  });

  test('publint passes on the tarball', async () => {
    const out = await sh(join(BIN, 'publint'), ['run', tarball, '--strict'], tmp);
    assert.doesNotMatch(out, /error|warning/i, out);
  });

  test('plain Node ESM imports duet and duet/client from the installed package', async () => {
    const out = JSON.parse(await sh(process.execPath, ['imports.mjs'], project)) as Record<string, unknown>;
    assert.deepEqual(out, {
      missing: [],
      clientMissing: [],
      busAdapter: 'memory',
      errorCode: 'DUET_ERR_CONFIG_INVALID',
    });
  });

  test('a strict nodenext TypeScript consumer type-checks against the shipped declarations', async () => {
    await sh(join(BIN, 'tsc'), ['-p', join(project, 'tsconfig.json')], project);
  });

  test('duet/client bundles for the browser with no Node built-in', async () => {
    const r = await build({
      entryPoints: [join(project, 'browser.mjs')],
      absWorkingDir: project,
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    assert.ok(
      inputs.some((i) => i.includes('node_modules/duet/dist/src/client/')),
      inputs.join('\n'),
    );
    assert.deepEqual(
      inputs.filter((i) => i.startsWith('node:')),
      [],
    );
    assert.doesNotMatch(r.outputFiles[0]?.text ?? '', /from\s*["']node:/);
  });

  test('the installed CLI runs a gate and a JavaScript node app on NATS, answered through duet/client', async () => {
    nats = await startNats({ jetstream: true });
    const cli = join(project, 'node_modules', 'duet', 'bin', 'duet.js');
    const sets = [
      'bus.adapter="nats"',
      `bus.nats.servers=["${nats.url}"]`,
      'bus.nats.prefix="pkgtest"',
      'locate.adapter="memory"',
      'registry.adapter="nats"',
      'registry.nats.bucket="pkgtest-registry"',
      'registry.nats.interval="500ms"',
      'log.level="warn"',
    ].flatMap((s) => ['--set', s]);
    const env = userEnv();
    const node = await startDuet(['node', '--app', join(project, 'app.mjs'), ...sets], { bin: cli, env });
    await using _node = node;
    const port = await freePort();
    const addr = ['--set', `network.ws.server.addr="127.0.0.1:${port}"`];
    await using gate = await startDuet(['gate', ...sets, ...addr], { bin: cli, env });
    assert.ok(gate.url, gate.output);
    // The gate learns the node's routes from the registry: retry until the route is served (bounded).
    let answer = '';
    for (let i = 0; i < 50 && answer !== 'installed:hello'; i++) {
      answer = (await sh(process.execPath, ['client.mjs', gate.url, 'hello'], project).catch(() => '')).trim();
      if (answer !== 'installed:hello') await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(answer, 'installed:hello', `${gate.output}\n${node.output}`);
  });

  test('the installed CLI refuses a .ts app without tsx in one line, exit 2', async () => {
    const cli = join(project, 'node_modules', 'duet', 'bin', 'duet.js');
    const r = await run(process.execPath, [cli, 'node', '--app', 'app.ts'], { cwd: project, env: userEnv() }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^duet: --app app\.ts is TypeScript.*npm install --save-dev tsx.*\n$/);
  });

  test('the installed `duet --help` runs compiled JavaScript (no tsx in the package)', async () => {
    const cli = join(project, 'node_modules', 'duet', 'bin', 'duet.js');
    assert.match(await sh(process.execPath, [cli, '--help'], project), /Usage: duet <command>/);
    assert.throws(() => readFileSync(join(project, 'node_modules', 'tsx', 'package.json')));
  });
});
