import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import { packageUrl } from '../package-root.js';
import type { PacketOptions } from '../packet/options.js';

/** What the page needs to talk to the gate it is served by (GET /config.json). */
export interface DemoPageOptions {
  /** The gate's packet settings; the page's client must use the same. */
  packet?: Partial<PacketOptions>;
  /** The gate's heartbeat check period; the page beats at this period so the gate never finds it silent. */
  heartbeatIntervalMs?: number;
  /** Folder holding index.html, app.ts and style.css; default the repository's web/. */
  webDir?: string;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

interface Asset {
  type: string;
  body: Promise<Uint8Array>;
}

const DEFAULT_WEB_DIR = fileURLToPath(packageUrl('web/'));

/**
 * Serves the demo page on the WebSocket port (compose.createTransport's `handler`): GET / (index.html), /app.js
 * (web/app.ts bundled by esbuild in memory, once, at start-up), /style.css and /config.json. Anything else returns
 * false, so the transport answers 426 as for any plain HTTP request. The page opens its WebSocket on the same
 * origin, path "/".
 */
export function demoHttpHandler(opts: DemoPageOptions = {}): HttpHandler {
  const dir = opts.webDir ?? DEFAULT_WEB_DIR;
  // Only the fields the client takes: a whole config.packet section may be passed in.
  const { byteOrder, routeBytes, seqBytes, bufferBytes } = opts.packet ?? {};
  const config = new TextEncoder().encode(
    JSON.stringify({
      packet: { byteOrder, routeBytes, seqBytes, bufferBytes },
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 0,
    }),
  );
  const assets = new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: readAsset(dir, 'index.html') }],
    ['/index.html', { type: 'text/html; charset=utf-8', body: readAsset(dir, 'index.html') }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: readAsset(dir, 'style.css') }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: pageScript(opts.webDir) }],
    ['/config.json', { type: 'application/json', body: Promise.resolve(config) }],
  ]);
  // Settled promises are read by the handler; a failure is shown to whoever asks for that asset, never thrown here.
  for (const a of assets.values()) a.body.catch(() => {});

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const asset = assets.get(pathOf(req.url));
    if (!asset) return false;
    asset.body.then(
      (body) => {
        res.writeHead(200, {
          'Content-Type': asset.type,
          'Content-Length': body.byteLength,
          'Cache-Control': 'no-cache',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        const text = `demo page unavailable: ${errorMessage(err)}\n`;
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
    );
    return true;
  };
}

function pathOf(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?');
  return q < 0 ? (url ?? '/') : (url ?? '/').slice(0, q);
}

function readAsset(dir: string, name: string): Promise<Uint8Array> {
  try {
    return Promise.resolve(readFileSync(`${dir}${name}`));
  } catch (err) {
    return Promise.reject(new Error(`cannot read ${dir}${name}: ${errorMessage(err)}`, { cause: err }));
  }
}

/** web/app.ts as bundled by `npm run build` (scripts/build.mjs): what an installed package serves. */
const PREBUILT_APP = fileURLToPath(packageUrl('dist/web/app.js'));

/** The built page script for the package's own web/, else web/app.ts bundled now (a custom webDir, no build). */
function pageScript(webDir: string | undefined): Promise<Uint8Array> {
  if (webDir === undefined && existsSync(PREBUILT_APP)) return readAsset('', PREBUILT_APP);
  return bundle(`${webDir ?? DEFAULT_WEB_DIR}app.ts`);
}

/**
 * Bundles the page script with esbuild (a dev dependency, installed by `npm ci`), imported lazily so a gate without
 * it still runs: only /app.js then answers 503 with the reason.
 */
async function bundle(entry: string): Promise<Uint8Array> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    // BigInt literals and private fields in the client SDK need ES2022 (every current browser runs it).
    target: 'es2022',
    minify: true,
    loader: { '.proto': 'text' },
    logLevel: 'silent',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error(`esbuild produced no output for ${entry}`);
  return out.contents;
}
