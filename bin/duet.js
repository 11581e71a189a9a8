#!/usr/bin/env node
// The duet CLI: runs the compiled JavaScript in dist/ (`npm run build`; `npm pack` builds it for the tarball).
try {
  await import('../dist/src/cli/main.js');
} catch (err) {
  const missing = decodeURIComponent(new URL('../dist/src/cli/main.js', import.meta.url).pathname);
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes(missing)) throw err;
  console.error('duet: dist/ is not built: run `npm run build` in the duet checkout (npm start does it)');
  process.exit(2);
}
