/**
 * due's etc directory (`--etc DIR` / `DUE_ETC`): `etc.toml` (or `etc.json`) read as due writes it, its keys mapped
 * to duet's (due-etc-keys.ts). Keys duet does not implement are collected for one warning, never fatal; other files
 * in the directory (due exposes `foo.toml` as `foo.*` to applications) are named in the same warning.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { type EtcSetting, mapDueKey } from './due-etc-keys.js';

export interface DueEtc {
  /** The etc file read (absolute), if the directory has one. */
  file: string | undefined;
  /** duet keys to set, in file order, each with the due key it came from. */
  settings: EtcSetting[];
  /** One line naming every key and file duet ignores, or undefined when there is none. */
  warning: string | undefined;
}

const MAIN_FILES = ['etc.toml', 'etc.json'];
const UNREADABLE = ['etc.yaml', 'etc.yml', 'etc.xml'];

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Leaf values by dotted key; an empty table stays a leaf (`[cluster.gate.metadata]` with no entries). */
function flatten(
  doc: Record<string, unknown>,
  prefix = '',
  out: Array<[string, unknown]> = [],
): Array<[string, unknown]> {
  for (const [k, v] of Object.entries(doc)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (isTable(v) && Object.keys(v).length > 0) flatten(v, key, out);
    else out.push([key, v]);
  }
  return out;
}

function parseFile(file: string, shown: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  try {
    const doc: unknown = file.endsWith('.json') ? JSON.parse(text) : parseToml(text);
    if (!isTable(doc)) throw new Error('the top level is not a table');
    return doc;
  } catch (err) {
    const what = err instanceof TomlError ? `line ${err.line} column ${err.column}` : String(err);
    throw new ConfigError(shown, undefined, `${shown}: cannot read it, ${what.split('\n')[0]}`, { cause: err });
  }
}

export function readDueEtc(dir: string, shownDir: string, how: string): DueEtc {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ConfigError('etc', dir, `${how}: ${shownDir} is not a directory`);
  }
  const names = readdirSync(dir).sort();
  const main = MAIN_FILES.find((n) => names.includes(n));
  const ignoredFiles = names.filter((n) => n !== main && /\.(toml|json|ya?ml|xml)$/.test(n));
  const unreadable = ignoredFiles.filter((n) => UNREADABLE.includes(n));
  if (main === undefined && unreadable.length > 0) {
    throw new ConfigError('etc', dir, `${how}: duet reads etc.toml or etc.json; ${shownDir} has ${unreadable[0]}`);
  }
  const settings: EtcSetting[] = [];
  const unsupported: string[] = [];
  let file: string | undefined;
  if (main !== undefined) {
    file = join(dir, main);
    const shown = `${shownDir.replace(/\/$/, '')}/${main}`;
    const leaves = flatten(parseFile(file, shown));
    const byKey = new Map(leaves);
    for (const [key, value] of leaves) {
      const mapped = mapDueKey(key, value, byKey);
      if (mapped === undefined) unsupported.push(key);
      else settings.push(...mapped.map((s) => ({ ...s, label: `${shown}:${key}` })));
    }
  }
  const parts: string[] = [];
  if (unsupported.length > 0) {
    parts.push(`${unsupported.length} due etc keys duet does not implement are ignored: ${compact(unsupported)}`);
  }
  if (ignoredFiles.length > 0) parts.push(`files not read: ${ignoredFiles.join(', ')}`);
  return { file, settings, warning: parts.length > 0 ? parts.join('; ') : undefined };
}

/** Keys grouped under their table (`http.{addr,name}`), so the one warning line stays readable. */
function compact(keys: readonly string[]): string {
  const byTable = new Map<string, string[]>();
  for (const k of keys) {
    const at = k.lastIndexOf('.');
    const table = at < 0 ? '' : k.slice(0, at);
    const leaf = at < 0 ? k : k.slice(at + 1);
    byTable.set(table, [...(byTable.get(table) ?? []), leaf]);
  }
  return [...byTable]
    .map(([table, leaves]) => {
      if (table === '') return leaves.join(', ');
      return leaves.length === 1 ? `${table}.${leaves[0]}` : `${table}.{${leaves.join(',')}}`;
    })
    .join(', ');
}
