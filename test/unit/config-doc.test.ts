// docs/config.md is generated from the schema (scripts/gen-config-doc.ts): it must be in step with it, and it must
// name every key. When this fails after a schema change, run `npm run docs:config` and commit docs/config.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_DOC_PATH, renderConfigDoc } from '../../scripts/gen-config-doc.js';
import { type Field, isField, type SchemaSection } from '../../src/config/fields.js';
import { SCHEMA } from '../../src/config/schema.js';

function keys(node: SchemaSection, path: string, out: [string, Field][] = []): [string, Field][] {
  for (const [k, v] of Object.entries(node)) {
    if (isField(v)) out.push([path ? `${path}.${k}` : k, v]);
    else keys(v, path ? `${path}.${k}` : k, out);
  }
  return out;
}

test('config doc - docs/config.md is what `npm run docs:config` writes from the schema', () => {
  const actual = readFileSync(CONFIG_DOC_PATH, 'utf8');
  assert.ok(
    actual === renderConfigDoc(),
    'docs/config.md is out of step with src/config/schema.ts: run npm run docs:config',
  );
});

test('config doc - every schema key has a row under its section, with its description', () => {
  const doc = renderConfigDoc();
  for (const [key, field] of keys(SCHEMA as unknown as SchemaSection, '')) {
    const dot = key.lastIndexOf('.');
    const heading = dot < 0 ? '## Top level' : `## [${key.slice(0, dot)}]`;
    const at = doc.indexOf(`\n${heading}\n`);
    assert.ok(at >= 0, `no section ${heading}`);
    const end = doc.indexOf('\n## ', at + 1);
    const body = doc.slice(at, end < 0 ? undefined : end);
    const line = body.split('\n').find((l) => l.startsWith(`| \`${key.slice(dot + 1)}\``));
    assert.ok(line, `no row for ${key}`);
    assert.ok(line.includes(field.doc.replaceAll('|', '\\|')), `row for ${key} lacks its description`);
  }
});
