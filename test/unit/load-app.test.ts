// `duet node --app MODULE`: JavaScript apps import as they are, a TypeScript app goes through tsx when one is found
// (here the repository's own, a dev dependency), and without tsx or type stripping it stops with one clear line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadApp } from '../../src/cli/load-app.js';
import { ConfigError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'duet-load-app-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const JS_APP = "export default { name: 'js-app', register(node) { node.routes = 1; } };\n";
const TS_APP = [
  'interface Named { name: string; register(node: unknown): void }',
  "const app: Named = { name: 'ts-app', register(_node: unknown): void {} };",
  'export default app;',
  '',
].join('\n');

test('load app - a .mjs app and a .js app in an ESM package import without any loader', async () => {
  assert.equal((await loadApp(file('app.mjs', JS_APP))).name, 'js-app');
  file('package.json', '{ "type": "module" }\n');
  assert.equal((await loadApp(file('plain.js', JS_APP.replace('js-app', 'plain')))).name, 'plain');
});

test('load app - an app exported as "app" is found too', async () => {
  const app = await loadApp(file('named.mjs', "export const app = { name: 'named', register() {} };\n"));
  assert.equal(app.name, 'named');
});

test('load app - a .ts app loads through tsx when tsx resolves', async () => {
  const app = await loadApp(file('app.ts', TS_APP), { tsxSearchFrom: [ROOT] });
  assert.equal(app.name, 'ts-app');
});

test('load app - a .ts app with neither tsx nor type stripping stops with a ConfigError that says how', async () => {
  const path = file('lonely.ts', TS_APP);
  await assert.rejects(loadApp(path, { tsxSearchFrom: [dir], typeStripping: false }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /is TypeScript/);
    assert.match(err.message, /npm install --save-dev tsx/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
});

test('load app - a module without register, a missing file and a throwing module are ConfigErrors', async () => {
  await assert.rejects(loadApp(file('empty.mjs', 'export const x = 1;\n')), /must export a node app/);
  await assert.rejects(loadApp(join(dir, 'absent.mjs')), (err: unknown) => err instanceof ConfigError);
  await assert.rejects(loadApp(file('boom.mjs', "throw new Error('boom');\n")), /failed to load: boom/);
});
