/** `duet config print`: every effective key = value, with where it came from. Secrets are shown as "***". */

import { redactUrlCredentials } from '../log/redact.js';
import { formatDuration, formatSize } from './duration.js';
import type { Field } from './fields.js';
import { outputKey } from './fields.js';
import { allFields } from './keys.js';
import type { LoadedConfig } from './load.js';

/** A value written back as TOML, in the unit users write (durations "10s", sizes "4MB"). */
export function formatValue(field: Field, value: unknown): string {
  if (field.secret && value !== '') return '"***"';
  if (field.kind === 'duration' && typeof value === 'number') return JSON.stringify(formatDuration(value));
  if (field.kind === 'size' && typeof value === 'number') {
    return value > 0 && value % 1024 === 0 ? JSON.stringify(formatSize(value)) : String(value);
  }
  // URLs may carry credentials (nats://user:pass@host): shown without them.
  return redactUrlCredentials(JSON.stringify(value));
}

function lookup(config: unknown, key: string, field: Field): unknown {
  const segments = key.split('.');
  const last = segments.pop() as string;
  let node: unknown = config;
  for (const seg of segments) node = (node as Record<string, unknown>)[seg];
  return (node as Record<string, unknown>)[outputKey(last, field)];
}

/** The whole effective config, one `key = value  (source)` line per key, in schema order. */
export function formatConfig(result: LoadedConfig): string {
  const rows: Array<[string, string]> = [];
  for (const { key, field } of allFields()) {
    const value = lookup(result.config, key, field);
    const source = result.sources.get(key) ?? 'default';
    if (field.kind === 'map' && typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      if (entries.length === 0) rows.push([`${key} = {}`, source]);
      for (const [k, v] of entries) {
        rows.push([`${key}.${k} = ${JSON.stringify(v)}`, result.sources.get(`${key}.${k}`) ?? source]);
      }
      continue;
    }
    rows.push([`${key} = ${formatValue(field, value)}`, source]);
  }
  const width = Math.min(72, Math.max(...rows.map(([line]) => line.length)));
  const etc = result.etcFile ? `, due etc ${result.etcFile}` : '';
  const header = `# duet config, role ${result.role}, file ${result.file ?? '(none, code defaults)'}${etc}`;
  const warned = (result.warnings ?? []).map((w) => `# warning: ${w}`);
  const shown = rows.map(([line, source]) => `${line.padEnd(width)}  (${redactUrlCredentials(source)})`);
  return [header, ...warned, ...shown].join('\n') + '\n';
}
