#!/usr/bin/env -S node --import tsx
/**
 * Writes docs/config.md, the configuration reference, from the schema (src/config/schema.ts): one table per
 * section, every key with its allowed values, default and description, then the aliases. The schema is the one
 * source: test/unit/config-doc.test.ts fails when the file is out of step. Usage: npm run docs:config [-- --check]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Field, isField, outputKey, type SchemaSection } from '../src/config/fields.js';
import { formatValue } from '../src/config/print.js';
import { ALIASES, SCHEMA } from '../src/config/schema.js';
import { describeRule } from '../src/config/validate.js';

export const CONFIG_DOC_PATH = fileURLToPath(new URL('../docs/config.md', import.meta.url));

const HEADER = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`: do not edit by hand. -->

Every key duet reads, by section. \`config/gate.toml\`, \`config/node.toml\` and \`config/dev.toml\` hold the keys of
each role with a comment; \`duet config print [--role gate|node|dev]\` shows every effective value and its source.

Priority, lowest first: the defaults below < the role's file (\`--config DIR\` or \`DUET_CONFIG\`) < environment
variables (\`DUET__SECTION__KEY=value\`, e.g. \`DUET__NETWORK__WS__SERVER__ADDR=127.0.0.1:4000\`) < flags
(\`--set dotted.key=value\`, the value in TOML syntax). \`DUET_MODE\` and \`--mode\` set \`mode\`. A bad value stops the
process with exit code 2 and one line that names its source and the allowed values.

Durations are written with a unit (\`"10s"\`, \`"250ms"\`) and reach code as milliseconds (\`<key>Ms\`); sizes take a
number of bytes or a unit (\`"4MB"\`) and reach code as bytes (\`<key>Bytes\`). Keys marked _secret_ are printed as
\`***\` and never logged.
`;

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** describeRule's words, with the unit lists (said once above) left out of the table. */
function allowed(field: Field): string {
  if (field.kind === 'duration') return field.bareUnit ? 'a duration, or whole seconds' : 'a duration';
  if (field.kind === 'size') return 'a size';
  return describeRule(field);
}

function row(key: string, field: Field): string {
  const def = field.kind === 'map' ? '{}' : formatValue({ ...field, secret: false }, field.default);
  const name = outputKey(key, field) === key ? `\`${key}\`` : `\`${key}\` (code: \`${outputKey(key, field)}\`)`;
  const doc = field.secret ? `${field.doc} (_secret_)` : field.doc;
  return `| ${name} | ${cell(allowed(field))} | \`${cell(def)}\` | ${cell(doc)} |`;
}

function section(path: string, node: SchemaSection, out: string[]): void {
  const entries = Object.entries(node);
  const fields = entries.filter((e): e is [string, Field] => isField(e[1]));
  if (fields.length > 0) {
    out.push('', path === '' ? '## Top level' : `## [${path}]`, '');
    out.push('| key | allowed | default | description |', '| --- | --- | --- | --- |');
    for (const [key, field] of fields) out.push(row(key, field));
  }
  for (const [key, child] of entries) {
    if (!isField(child)) section(path === '' ? key : `${path}.${key}`, child, out);
  }
}

/** Markdown as Biome (`npm run lint`) formats it, so the written file passes the lint as it is. */
function formatMarkdown(text: string): string {
  const biome = fileURLToPath(new URL('../node_modules/.bin/biome', import.meta.url));
  const r = spawnSync(biome, ['format', `--stdin-file-path=${CONFIG_DOC_PATH}`], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`biome format failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** The whole document, deterministic: schema order, no dates. */
export function renderConfigDoc(): string {
  const out = [HEADER.trimEnd()];
  section('', SCHEMA as unknown as SchemaSection, out);
  out.push('', '## Aliases', '', 'Older or alternative names, accepted and applied to the key they name.', '');
  out.push('| alias | sets |', '| --- | --- |');
  for (const [alias, key] of Object.entries(ALIASES)) out.push(`| \`${alias}\` | \`${key}\` |`);
  return formatMarkdown(`${out.join('\n')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderConfigDoc();
  if (process.argv.includes('--check')) {
    if (readFileSync(CONFIG_DOC_PATH, 'utf8') !== text) {
      console.error('docs/config.md is out of step with src/config/schema.ts: run npm run docs:config');
      process.exit(1);
    }
    console.log('docs/config.md is up to date');
  } else {
    writeFileSync(CONFIG_DOC_PATH, text);
    console.log('wrote docs/config.md');
  }
}
