// Invariants of the codebase's shape (docs/contributing.md), checked by scanning src/ and actors/ as text.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAX_SRC_LINES = 400;

/** Adapter modules (by file name): only the composition root may pick them (docs/contributing.md). */
const ADAPTER_MODULES = new Set([
  'memory-bus',
  'nats-bus',
  'redis-locator',
  'memory-locator',
  'consul-registry',
  'nats-registry',
  'memory-registry',
  'etcd-registry',
  'ws-transport',
  'tcp-transport',
]);
/** Packages that are adapter implementation details. */
const ADAPTER_PACKAGE = /^(ws|ioredis|consul|etcd3|cockatiel)(\/|$)|^@nats-io\//;
/** Folders that hold the core: they import interface files only (docs/contributing.md). */
const CORE_DIRS = ['src/gate/', 'src/node/', 'src/demo/', 'src/replay/', 'src/trace/', 'actors/'];
/** The composition root: the only places allowed to import adapter modules. */
const isCompositionRoot = (file: string) => file === 'src/compose.ts' || file.startsWith('src/cli/');
/** The public surface re-exports the in-process twins so embedders and tests can build a cluster in one process. */
const PUBLIC_MEMORY_TWINS = new Set(['memory-bus', 'memory-locator', 'memory-registry']);

interface SourceFile {
  /** Path relative to the repository root, with forward slashes. */
  readonly path: string;
  readonly text: string;
  /** The text with comments blanked out (strings kept), for import scanning. */
  readonly code: string;
  /** The text with comments and string/template contents blanked out, for pattern scanning. */
  readonly bare: string;
  readonly imports: readonly string[];
}

function listTs(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) listTs(rel, out);
    else if (/\.[cm]?tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/**
 * Blanks comments (and, for `bare`, string contents) while keeping offsets and newlines, so a word inside a
 * comment or a string never counts as code. Regex literals are recognised by the usual preceding-token rule.
 */
function lex(text: string): { code: string; bare: string } {
  const code = text.split('');
  const bare = text.split('');
  const blank = (arr: string[], from: number, to: number) => {
    for (let k = from; k < to; k++) if (arr[k] !== '\n') arr[k] = ' ';
  };
  let prev = ''; // last significant character outside comments and strings
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      blank(code, i, stop);
      blank(bare, i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(code, i, stop);
      blank(bare, i, stop);
      i = stop;
    } else if (
      c === "'" ||
      c === '"' ||
      c === '`' ||
      (c === '/' && (prev === '' || /[(,=:[!&|?{};+\-*%<>~^]/.test(prev)))
    ) {
      let j = i + 1;
      let inClass = false;
      while (j < text.length) {
        const d = text[j];
        if (d === '\\') {
          j += 2;
          continue;
        }
        if (c === '/' && (d === '[' || d === ']')) inClass = d === '[';
        else if ((d === c && !inClass) || (d === '\n' && c !== '`')) break;
        j++;
      }
      blank(bare, i + 1, j);
      i = j + 1;
      prev = c === '/' ? 'x' : c;
    } else {
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return { code: code.join(''), bare: bare.join('') };
}

function importsOf(code: string): string[] {
  const out: string[] = [];
  const patterns = [
    /(?:^|[;}\n])\s*(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /(?:^|[;}\n])\s*import\s*(['"])([^'"]+)\1/g,
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
    /\brequire\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[2] as string);
  return out;
}

function load(path: string): SourceFile {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const { code, bare } = lex(text);
  return { path, text, code, bare, imports: importsOf(code) };
}

const files: SourceFile[] = [...listTs('src'), ...listTs('actors')].map(load);
const srcFiles = files.filter((f) => f.path.startsWith('src/'));

/** The module name a relative specifier points at (`../bus/nats-bus.js` → `nats-bus`), or undefined for packages. */
function moduleName(spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return basename(spec).replace(/\.(js|ts|mjs|cjs)$/, '');
}

/** Repository path a relative specifier resolves to, without extension (`src/bus/nats-bus`). */
function resolved(from: string, spec: string): string {
  return posix.normalize(posix.join(dirname(from), spec)).replace(/\.(js|ts|mjs|cjs)$/, '');
}

/** `file:line  text` for each line of a file matching a pattern in its comment- and string-free form. */
function hits(f: SourceFile, re: RegExp): string[] {
  const lines = f.text.split('\n');
  const out: string[] = [];
  f.bare.split('\n').forEach((line, n) => {
    if (re.test(line)) out.push(`${f.path}:${n + 1}  ${(lines[n] ?? '').trim()}`);
  });
  return out;
}

test('architecture - the scanner sees the tree and parses every import form', () => {
  assert.ok(srcFiles.length > 20, `found ${srcFiles.length} files under src/`);
  assert.ok(
    files.some((f) => f.path === 'actors/session.ts'),
    'actors/session.ts is scanned',
  );
  const sample = [
    "import a from './a.js';",
    "import type { B } from '../b.js';",
    'import {\n  c,\n  type D,\n} from "c-pkg";',
    "export * from './e.js';",
    "export { f } from '@nats-io/f';",
    "import './side-effect.js';",
    "const g = await import('./g.js');",
    "// import h from './commented.js';",
    "/* import i from './commented.js'; */",
    'const s = \'import j from "./in-string.js"\';',
    'const r = /["\']/g; const x: number = 1;',
  ].join('\n');
  assert.deepEqual(importsOf(lex(sample).code).sort(), [
    '../b.js',
    './a.js',
    './e.js',
    './g.js',
    './side-effect.js',
    '@nats-io/f',
    'c-pkg',
  ]);
  assert.equal(lex(sample).bare.includes('in-string'), false, 'string contents are blanked in bare');
  assert.equal(lex('const t = "x: any"; // as any\n').bare.includes('any'), false);
});

test('architecture - actors/ imports only xstate, ./session-types and ./close-codes', () => {
  const bad: string[] = [];
  for (const f of files.filter((x) => x.path.startsWith('actors/'))) {
    for (const spec of f.imports) {
      if (spec !== 'xstate' && !/^\.\/(session-types|close-codes)(\.js)?$/.test(spec))
        bad.push(`${f.path} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, [], 'actors/ must run without sockets, buses or Node built-ins (docs/contributing.md)');
});

test('architecture - core folders never import adapters, adapter packages or the composition root', () => {
  const bad: string[] = [];
  for (const f of files.filter((x) => CORE_DIRS.some((d) => x.path.startsWith(d)))) {
    for (const spec of f.imports) {
      const mod = moduleName(spec);
      const target = mod === undefined ? undefined : resolved(f.path, spec);
      if (
        ADAPTER_PACKAGE.test(spec) ||
        (mod !== undefined && ADAPTER_MODULES.has(mod)) ||
        target === 'src/compose' ||
        target?.startsWith('src/cli/')
      ) {
        bad.push(`${f.path} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(bad, [], 'only src/compose.ts and src/cli/ pick adapters (docs/contributing.md)');
});

test('architecture - services and actors are parts the node composes: they never import the node or its proxy', () => {
  const bad: string[] = [];
  const parts = files.filter((x) => x.path.startsWith('src/node/services/') || x.path.startsWith('src/node/actors/'));
  assert.ok(parts.length >= 6, 'the scanner sees src/node/services and src/node/actors');
  for (const f of parts) {
    for (const spec of f.imports) {
      const target = moduleName(spec) === undefined ? undefined : resolved(f.path, spec);
      if (target === 'src/node/node' || target === 'src/node/proxy' || target === 'src/node/runtime')
        bad.push(`${f.path} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, [], 'they get what they need through their options (bus, locator, codec, log)');
});

test('architecture - adapter modules are imported only by src/compose.ts and src/cli/', () => {
  const bad: string[] = [];
  for (const f of srcFiles.filter((x) => !isCompositionRoot(x.path))) {
    for (const spec of f.imports) {
      const mod = moduleName(spec);
      if (mod === undefined || !ADAPTER_MODULES.has(mod)) continue;
      if (f.path === 'src/index.ts' && PUBLIC_MEMORY_TWINS.has(mod)) continue;
      bad.push(`${f.path} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('architecture - no process.on( outside src/cli', () => {
  const re = /\bprocess\s*\.\s*(on|once|addListener|prependListener|prependOnceListener)\s*\(/;
  const bad = files.filter((f) => !f.path.startsWith('src/cli/')).flatMap((f) => hits(f, re));
  assert.deepEqual(bad, [], 'process-wide listeners belong to the CLI (docs/contributing.md)');
});

test('architecture - no any in src/ and actors/', () => {
  const re = /:\s*any\b(?!\s*[-\w])|\bas\s+any\b|<\s*any\s*[>,]|\bany\s*\[\]/;
  const bad = files.flatMap((f) => hits(f, re));
  assert.deepEqual(bad, [], 'untyped payloads (docs/contributing.md)');
});

function oversized(): string[] {
  return srcFiles
    .map((f) => ({
      path: f.path,
      lines: f.text.endsWith('\n') ? f.text.split('\n').length - 1 : f.text.split('\n').length,
    }))
    .filter((f) => f.lines > MAX_SRC_LINES)
    .map((f) => `${f.path}: ${f.lines} lines`);
}

test(`architecture - no src/ file over ${MAX_SRC_LINES} lines`, () => {
  assert.deepEqual(oversized(), [], `god files (docs/contributing.md)`);
});

/** Files reachable from `entry` through relative imports (type-only imports included: they shape the .d.ts). */
function reachable(entry: string): SourceFile[] {
  const byPath = new Map(files.map((f) => [f.path.replace(/\.ts$/, ''), f]));
  const seen = new Map<string, SourceFile>();
  const visit = (path: string): void => {
    const f = byPath.get(path);
    if (!f || seen.has(path)) return;
    seen.set(path, f);
    for (const spec of f.imports) if (spec.startsWith('.')) visit(resolved(f.path, spec));
  };
  visit(entry);
  return [...seen.values()];
}

test('architecture - the public entries reach nothing in src/demo/, and duet/client no Node built-in', () => {
  const fromIndex = reachable('src/index').map((f) => f.path);
  assert.ok(fromIndex.length > 20, `the scan of src/index.ts found ${fromIndex.length} files`);
  assert.deepEqual(
    fromIndex.filter((p) => p.startsWith('src/demo/')),
    [],
    'the demo app is not part of the public API',
  );
  const client = reachable('src/client/index');
  const builtins = client.flatMap((f) => f.imports.filter((s) => !s.startsWith('.')).map((s) => `${f.path}: ${s}`));
  assert.deepEqual(builtins, [], 'duet/client runs in browsers: no Node built-in and no package import');
});

test('architecture - comments and strings cite only files that ship in the repository', () => {
  const re = /\b(DESIGN\.md|PROTOCOL\.md|DUE-REFERENCE(\.md)?|STYLE\.md)/;
  const bad = files.flatMap((f) =>
    f.text.split('\n').flatMap((line, n) => (re.test(line) ? [`${f.path}:${n + 1}  ${line.trim()}`] : [])),
  );
  assert.deepEqual(bad, [], 'DESIGN.md, PROTOCOL.md, DUE-REFERENCE.md and STYLE.md are not in the repository');
  const missing = files.flatMap((f) =>
    [...f.text.matchAll(/\bdocs\/[\w./-]+\.md\b/g)]
      .map((m) => m[0])
      .filter((d) => !existsSync(join(ROOT, d)))
      .map((d) => `${f.path}: ${d}`),
  );
  assert.deepEqual(missing, [], 'docs cited from the code must exist');
});

test('architecture - session effects are a table keyed by the machine’s action names, never a switch on strings', () => {
  const f = files.find((x) => x.path === 'src/gate/session-effects.ts');
  assert.ok(f, 'src/gate/session-effects.ts exists');
  assert.deepEqual(
    hits(f, /\bswitch\s*\(|\bcase\s/),
    [],
    'a switch compiles with a case missing; the mapped type does not',
  );
  assert.match(f.code, /\[K in SessionEffectName\]/, 'handlers are a mapped type over the declared effect names');
  const machine = files.find((x) => x.path === 'actors/session.ts');
  assert.match(
    machine?.code ?? '',
    /\[K in SessionEffectName\]/,
    'the machine declares its effects from the same names',
  );
});

test('architecture - only src/gate/machine-stepper.ts uses xstate at run time (the pinned-version contract)', () => {
  const bad: string[] = [];
  for (const f of srcFiles) {
    if (f.path === 'src/gate/machine-stepper.ts') continue;
    const runtime = f.code.match(/(?:^|\n)\s*import\s+(?!type\b)[^;]*?from\s*['"]xstate['"]/g) ?? [];
    for (const m of runtime)
      if (!/^\s*import\s*\{\s*(type\s+\w+\s*,?\s*)+\}/.test(m.trim())) bad.push(`${f.path}: ${m.trim()}`);
  }
  assert.deepEqual(
    bad,
    [],
    'xstate internals are touched in one file only, checked by test/unit/machine-stepper.test.ts',
  );
});

/** Resume's per-session state: it lives in the resume feature (src/gate/resume.ts), never on Session. */
const RESUME_FIELDS = /\b(ring|epoch|suspendDeadlineMs|pushers|awaiting|awaitDeadlineMs|early|held)\s*[?!]?\s*[:=]/;

test('architecture - Session has no resume field; only the resume feature files know resume', () => {
  const session = files.find((x) => x.path === 'src/gate/session.ts');
  assert.ok(session, 'src/gate/session.ts exists');
  const classBody = session.bare.slice(session.bare.indexOf('export class Session'));
  const bad = classBody
    .split('\n')
    .filter((line) => RESUME_FIELDS.test(line))
    .map((line) => `src/gate/session.ts  ${line.trim()}`);
  assert.deepEqual(bad, [], 'resume keeps its per-session state itself (ResumeState)');
  // The gate's parts reach resume only through the named hooks (hooks.ts); only gate.ts constructs it.
  const isResumeFile = (p: string) => /^src\/gate\/resume(-[a-z]+)?\.ts$/.test(p);
  const importers = srcFiles
    .filter((f) => f.path.startsWith('src/gate/') && !isResumeFile(f.path) && f.path !== 'src/gate/gate.ts')
    .flatMap((f) =>
      f.imports.filter((spec) => /^\.\/resume(-[a-z]+)?(\.js)?$/.test(spec)).map((s) => `${f.path} imports ${s}`),
    );
  assert.deepEqual(importers, [], 'hot-path parts call hooks, not resume');
  for (const path of [
    'src/gate/frames.ts',
    'src/gate/operations.ts',
    'src/gate/dispatcher.ts',
    'src/gate/op-order.ts',
  ]) {
    const f = files.find((x) => x.path === path);
    assert.ok(f, path);
    assert.deepEqual(hits(f, /\bresume\b/i), [], `${path} has no resume branch (it goes through hooks)`);
  }
});

test('architecture - the gate, the node service and the machine throw typed errors with codes, never a bare Error', () => {
  const bad = files
    .filter((f) => ['src/gate/', 'actors/'].some((d) => f.path.startsWith(d)) || f.path === 'src/node/node.ts')
    .flatMap((f) => hits(f, /\bnew\s+Error\s*\(/));
  assert.deepEqual(bad, [], 'callers branch on DuetError codes (src/errors.ts), not on messages');
});

test('architecture - gate and node parts are wired through constructors, never by assigning callbacks later', () => {
  // e.g. `dispatcher.redispatch = (s, f) => …` or `this.resume.deliver = …`: a part whose needs are set after it
  // was built hides the construction order a reader must know.
  const re = /\b(?:this\.#?\w+|[a-z]\w*)\.\w+\s*=\s*(?:\([^)]*\)\s*=>|async\b|function\b|\w+\s*=>)/;
  const bad = files
    .filter((f) => ['src/gate/', 'src/node/'].some((d) => f.path.startsWith(d)))
    .flatMap((f) => hits(f, re));
  assert.deepEqual(bad, [], 'pass what a part needs to its constructor (or a small interface)');
});
