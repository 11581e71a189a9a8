import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, errorMessage } from '../errors.js';
import type { NodeApp } from '../node/app.js';

export interface LoadAppOptions {
  /** Folders to look for tsx from, in order; default the app's folder, the working directory, then duet's own. */
  tsxSearchFrom?: readonly string[];
  /** Whether this Node strips TypeScript types itself; default what process.features says. */
  typeStripping?: boolean;
}

const TS_FILE = /\.[cm]?tsx?$/;

type TsImport = (specifier: string, parentUrl: string) => Promise<unknown>;

/**
 * Loads the node app of `duet node --app MODULE`. JavaScript (.js, .mjs) is imported as it is. TypeScript goes
 * through tsx when the app's project (or the working directory) has it installed, else through Node's own type
 * stripping where this Node has it; otherwise it stops with one line that says what to do. duet itself does not
 * depend on tsx: an installed package runs compiled JavaScript.
 */
export async function loadApp(module: string, opts: LoadAppOptions = {}): Promise<NodeApp> {
  const path = resolve(module);
  if (!existsSync(path)) throw new ConfigError('--app', module, `--app ${module}: no such file (${path})`);
  const url = pathToFileURL(path).href;
  let mod: { default?: NodeApp; app?: NodeApp };
  try {
    mod = (await importApp(module, path, url, opts)) as typeof mod;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('--app', module, `--app ${module} failed to load: ${errorMessage(err)}`, { cause: err });
  }
  const app = mod.default ?? mod.app;
  if (!app || typeof app.register !== 'function') {
    throw new ConfigError(
      '--app',
      module,
      `--app ${module} must export a node app ({ register(node) }) as default or "app"`,
    );
  }
  return app;
}

async function importApp(module: string, path: string, url: string, opts: LoadAppOptions): Promise<unknown> {
  if (!TS_FILE.test(path)) return import(url);
  const from = opts.tsxSearchFrom ?? [dirname(path), process.cwd(), fileURLToPath(new URL('./', import.meta.url))];
  const tsImport = await findTsx(from);
  if (tsImport) return tsImport(url, import.meta.url);
  const features = process.features as { typescript?: string | false };
  if (opts.typeStripping ?? Boolean(features.typescript)) return import(url);
  throw new ConfigError(
    '--app',
    module,
    `--app ${module} is TypeScript, and neither tsx nor Node's type stripping is here to load it: ` +
      "install tsx in the app's project (npm install --save-dev tsx), run a Node that strips types " +
      '(22.18 or later), or compile the app to JavaScript',
  );
}

/**
 * tsx's tsImport (it loads one module tree without registering a loader process-wide), from the first folder that
 * resolves tsx. Its ESM entry is read from tsx's own package.json: require.resolve would name the CommonJS one.
 */
async function findTsx(from: readonly string[]): Promise<TsImport | undefined> {
  for (const dir of from) {
    let pkgPath: string;
    try {
      pkgPath = createRequire(resolve(dir, 'noop.js')).resolve('tsx/package.json');
    } catch {
      continue;
    }
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as TsxPackage;
    const entry = pkg.exports?.['./esm/api']?.import?.default;
    if (!entry) continue;
    const api = (await import(pathToFileURL(join(dirname(pkgPath), entry)).href)) as { tsImport?: TsImport };
    if (api.tsImport) return api.tsImport;
  }
  return undefined;
}

interface TsxPackage {
  exports?: Record<string, { import?: { default?: string } } | undefined>;
}
