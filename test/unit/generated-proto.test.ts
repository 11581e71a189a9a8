// src/generated/ is protobufjs-cli's output for proto/cluster.proto (scripts/gen-proto.mjs): a .proto edited without
// `npm run gen:proto` fails here, as does a hand edit of the generated files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/gen-proto.mjs', import.meta.url));

test('generated proto - src/generated/ is what `npm run gen:proto` writes from proto/cluster.proto', () => {
  const r = spawnSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /up to date/);
});
