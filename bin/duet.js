#!/usr/bin/env node
// The duet CLI: runs the compiled JavaScript in dist/ (`npm run build`; `npm pack` builds it for the tarball).
// In a source checkout (src/ and the build script present, as in a clone, never in an installed package) a dist/
// that is missing or older than the sources is rebuilt first, so `./bin/duet.js` never runs stale code.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const entry = join(root, 'dist', 'src', 'cli', 'main.js');

/** Newest modification time of the .ts files below `dir` (0 when it does not exist). */
function newestTs(dir) {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const buildScript = join(root, 'scripts', 'build.mjs');
const tsc = join(root, 'node_modules', '.bin', 'tsc');
if (existsSync(buildScript) && existsSync(join(root, 'src')) && existsSync(tsc)) {
  const built = existsSync(entry) ? statSync(entry).mtimeMs : 0;
  if (built < Math.max(newestTs(join(root, 'src')), newestTs(join(root, 'actors')))) {
    // The build's own output goes to stderr: stdout belongs to the command (JSON, the start-up line).
    execFileSync(process.execPath, [buildScript], { stdio: ['ignore', 2, 2] });
  }
}

try {
  await import('../dist/src/cli/main.js');
} catch (err) {
  const missing = decodeURIComponent(new URL('../dist/src/cli/main.js', import.meta.url).pathname);
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes(missing)) throw err;
  console.error('duet: dist/ is not built: run `npm run build` in the duet checkout (npm start does it)');
  process.exit(2);
}
