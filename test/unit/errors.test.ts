// The code tables in src/errors.ts against docs/errors.md, both ways (fastify test/internals/errors.test.js).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CloseCode,
  ClosedError,
  ConfigError,
  DuetError,
  ErrorCode,
  ProtocolError,
  TimeoutError,
  UnavailableError,
} from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = 'docs/errors.md';
const doc = readFileSync(join(ROOT, DOC), 'utf8');

/** The table rows under one `## heading` of the doc, split on unescaped pipes, trimmed. */
function tableRows(heading: string): string[][] {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  assert.ok(start >= 0, `${DOC} has a "## ${heading}" section`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('|') || /^\|\s*-/.test(line)) continue;
    rows.push(
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows.slice(1); // drop the header row
}

const unquote = (cell: string | undefined) => /^`([^`]+)`$/.exec(cell ?? '')?.[1];

test('errors - every ErrorCode is documented in docs/errors.md with a meaning', () => {
  const documented = new Map(tableRows('Error codes').map((r) => [unquote(r[0]), r[1] ?? '']));
  const missing = Object.values(ErrorCode).filter((code) => !documented.has(code));
  assert.deepEqual(missing, [], `codes missing from ${DOC}`);
  for (const code of Object.values(ErrorCode)) assert.ok((documented.get(code) ?? '').length > 10, `${code} meaning`);
});

test('errors - every code documented in docs/errors.md exists in src/errors.ts, once', () => {
  const rows = tableRows('Error codes');
  const codes = rows.map((r) => unquote(r[0]));
  const known = new Set<string>(Object.values(ErrorCode));
  assert.deepEqual(
    codes.filter((c) => c === undefined || !known.has(c)),
    [],
    `rows in ${DOC} that are not ErrorCode values`,
  );
  assert.equal(new Set(codes).size, codes.length, `a code listed twice in ${DOC}`);
});

test('errors - each code is DUET_ERR_ followed by its key (docs/contributing.md), and values are unique', () => {
  for (const [key, code] of Object.entries(ErrorCode)) assert.equal(code, `DUET_ERR_${key}`);
  assert.equal(new Set(Object.values(ErrorCode)).size, Object.keys(ErrorCode).length);
});

test('errors - every close code is documented with its number and name, and nothing else is', () => {
  const rows = tableRows('WebSocket close codes');
  const documented = rows.map((r) => `${r[0]} ${unquote(r[1])}`);
  const actual = Object.entries(CloseCode).map(([name, n]) => `${n} ${name}`);
  assert.deepEqual([...documented].sort(), [...actual].sort(), `${DOC} close codes vs src/errors.ts CloseCode`);
  for (const r of rows) assert.ok((r[2] ?? '').length > 10, `close code ${r[0]} meaning`);
});

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) sourceFiles(rel, out);
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

test('errors - every DUET_ERR_ code named anywhere in src/ and actors/ exists', () => {
  const known = new Set<string>(Object.values(ErrorCode));
  const unknown: string[] = [];
  for (const file of [...sourceFiles('src'), ...sourceFiles('actors')]) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/DUET_ERR_[A-Z0-9_]+/g)) {
      if (!known.has(m[0])) unknown.push(`${file}: ${m[0]}`);
    }
  }
  assert.deepEqual(unknown, [], 'codes mentioned in source but missing from the ErrorCode table');
});

test('errors - subclasses set name and code, keep the cause, and are DuetErrors', () => {
  const cause = new Error('root');
  const cases: Array<[DuetError, string, ErrorCode]> = [
    [new ConfigError('packet.routeBytes', 3, 'bad', { cause }), 'ConfigError', ErrorCode.CONFIG_INVALID],
    [new ProtocolError(ErrorCode.PACKET_SHORT, 'bad', { cause }), 'ProtocolError', ErrorCode.PACKET_SHORT],
    [new UnavailableError('bad', { cause }), 'UnavailableError', ErrorCode.UNAVAILABLE],
    [new TimeoutError('bad', { cause }), 'TimeoutError', ErrorCode.TIMEOUT],
    [new ClosedError('bad', { cause }), 'ClosedError', ErrorCode.CLOSED],
  ];
  for (const [err, name, code] of cases) {
    assert.ok(err instanceof DuetError && err instanceof Error, name);
    assert.equal(err.name, name);
    assert.equal(err.code, code);
    assert.equal(err.cause, cause, name);
    assert.equal(err.closeCode, undefined, name);
  }
  const tooLarge = new ProtocolError(ErrorCode.PACKET_TOO_LARGE, 'big', { closeCode: CloseCode.TOO_LARGE });
  assert.equal(tooLarge.closeCode, 1009);
  const config = cases[0]?.[0];
  assert.ok(config instanceof ConfigError);
  assert.deepEqual([config.path, config.value], ['packet.routeBytes', 3]);
});
