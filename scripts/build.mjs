#!/usr/bin/env node
// Builds what the package ships into dist/: tsc (tsconfig.build.json) compiles src/ and actors/ to JavaScript with
// .d.ts and source maps, the generated protobuf code (src/generated/, plain JavaScript) is copied beside it, and the
// demo page's script (web/app.ts) is bundled to dist/web/app.js so an installed `duet dev` serves it without esbuild.
// `--clean` empties dist/ first (prepack does, so a removed source leaves nothing behind in the tarball).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'dist');
const started = performance.now();

if (process.argv.includes('--clean')) rmSync(DIST, { recursive: true, force: true });
execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], {
  stdio: 'inherit',
});

const generated = join(ROOT, 'src', 'generated');
mkdirSync(join(DIST, 'src', 'generated'), { recursive: true });
for (const name of readdirSync(generated)) cpSync(join(generated, name), join(DIST, 'src', 'generated', name));

const { build } = await import('esbuild');
await build({
  entryPoints: [join(ROOT, 'web', 'app.ts')],
  outfile: join(DIST, 'web', 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // BigInt literals and private fields in the client SDK need ES2022 (every current browser runs it).
  target: 'es2022',
  minify: true,
  loader: { '.proto': 'text' },
  logLevel: 'warning',
});
console.log(`built dist/ in ${Math.round(performance.now() - started)} ms`);
