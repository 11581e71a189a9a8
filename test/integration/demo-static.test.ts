import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type DemoPageOptions, demoHttpHandler } from '../../src/demo/static.js';

type TestContext = { after: (fn: () => unknown) => void };

/** A plain HTTP server that answers like the WebSocket transport: the handler first, else 426. */
async function serve(t: TestContext, opts?: DemoPageOptions): Promise<string> {
  const handler = demoHttpHandler(opts);
  const server = createServer((req, res) => {
    if (handler(req, res)) return;
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('upgrade required');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.after(() => server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('demo page - serves the page, the bundled script, the style and the client settings; nothing else', async (t) => {
  const base = await serve(t, {
    packet: { byteOrder: 'little', routeBytes: 4, seqBytes: 4, bufferBytes: 9000, heartbeatTime: true },
    heartbeatIntervalMs: 2500,
  });
  const page = await fetch(`${base}/?room=x`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await page.text(), /<script type="module" src="\/app.js">/);

  const script = await fetch(`${base}/app.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /text\/javascript/);
  const js = await script.text();
  // The bundle holds the page code, the client SDK and the proto text (no import left for the browser to resolve).
  assert.match(js, /duet\.demo/);
  assert.doesNotMatch(js, /^import /m);

  assert.match((await fetch(`${base}/style.css`)).headers.get('content-type') ?? '', /text\/css/);
  const config = await (await fetch(`${base}/config.json`)).json();
  assert.deepEqual(config, {
    packet: { byteOrder: 'little', routeBytes: 4, seqBytes: 4, bufferBytes: 9000 },
    heartbeatIntervalMs: 2500,
  });

  const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength(js));
  for (const path of ['/favicon.ico', '/../package.json', '/web/app.ts', '/app.ts']) {
    assert.equal((await fetch(`${base}${path}`)).status, 426, path);
  }
  assert.equal((await fetch(`${base}/`, { method: 'POST', body: 'x' })).status, 426);
});

test('demo page - missing page files answer 503 with the reason instead of failing the server', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'duet-web-'));
  t.after(() => rmSync(empty, { recursive: true, force: true }));
  const base = await serve(t, { webDir: `${empty}/` });
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 503);
  assert.match(await page.text(), /cannot read .*index\.html/);
  const script = await fetch(`${base}/app.js`);
  assert.equal(script.status, 503);
  assert.match(await script.text(), /demo page unavailable/);
  assert.equal((await fetch(`${base}/config.json`)).status, 200);
});
