#!/usr/bin/env node
// Bundles the client SDK (src/client/index.ts) for browsers: one ESM file, dist/client.js, plus its source map.
// platform 'browser' makes esbuild fail on any Node-only import, so a node: import creeping into the client breaks
// this build. Usage: node scripts/build-client.mjs [--minify] [--outfile <path>]
import { build } from 'esbuild';

const args = process.argv.slice(2);
const at = args.indexOf('--outfile');
const outfile = at >= 0 && args[at + 1] ? args[at + 1] : 'dist/client.js';

const result = await build({
  entryPoints: ['src/client/index.ts'],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // BigInt literals and private fields (#x) need ES2020/ES2022; every current browser runs ES2022.
  target: 'es2022',
  sourcemap: true,
  minify: args.includes('--minify'),
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`built ${outfile} (${bytes} bytes with its map)`);
