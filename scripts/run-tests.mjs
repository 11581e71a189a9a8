#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner (Node 20 has no .ts globbing of its own).
// Extra arguments narrow the set: `node scripts/run-tests.mjs test/unit` or a file path.
// It builds dist/ first: tests that spawn `bin/duet.js` run the compiled CLI, as users do.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test'];
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? walk(r, []) : [r])).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const built = spawnSync(process.execPath, [fileURLToPath(new URL('build.mjs', import.meta.url))], { stdio: 'inherit' });
if (built.status !== 0) {
  console.error('build failed: no test run');
  process.exit(built.status ?? 1);
}
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000'];
if (!process.env.TEST_REPORTER) args.push('--test-reporter=spec');
const r = spawnSync(process.execPath, [...args, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
