/** Finding schema keys by dotted path (files: exact; env and flags: case-insensitive), with aliases. */
import { type Field, isField, type SchemaSection } from './fields.js';
import { ALIASES, SCHEMA } from './schema.js';

export type KeyRef =
  | { kind: 'field'; key: string; field: Field; alias?: string }
  | { kind: 'entry'; key: string; entry: string; field: Field }
  | { kind: 'section'; key: string; section: SchemaSection }
  | { kind: 'unknown'; key: string; hint: string };

const ROOT: SchemaSection = SCHEMA;

function childName(section: SchemaSection, seg: string, ci: boolean): string | undefined {
  if (Object.hasOwn(section, seg)) return seg;
  if (!ci) return undefined;
  const lower = seg.toLowerCase();
  return Object.keys(section).find((k) => k.toLowerCase() === lower);
}

function fieldAt(key: string): Field | undefined {
  let node: Field | SchemaSection = ROOT;
  for (const seg of key.split('.')) {
    if (isField(node) || !Object.hasOwn(node, seg)) return undefined;
    node = node[seg] as Field | SchemaSection;
  }
  return isField(node) ? node : undefined;
}

/** Edit distance, for "did you mean"; keys are short so the quadratic table is fine. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

function hintFor(section: SchemaSection, sectionKey: string, seg: string): string {
  const names = Object.keys(section);
  const lower = seg.toLowerCase();
  const best = names
    .map((n) => ({ n, d: n.toLowerCase() === lower ? 0 : distance(lower, n.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)[0];
  const guess =
    best !== undefined && best.d <= Math.max(1, Math.floor(seg.length / 3)) ? ` (did you mean ${best.n}?)` : '';
  const where = sectionKey === '' ? 'the top level' : sectionKey;
  return `is not a known key${guess}; ${where} has: ${names.join(', ')}`;
}

/** Resolves path segments to a field, a map entry, a section, or an unknown key with a hint listing the valid ones. */
export function resolveKey(segments: readonly string[], ci: boolean): KeyRef {
  const dotted = segments.join('.');
  const lowered = dotted.toLowerCase();
  for (const [alias, target] of Object.entries(ALIASES)) {
    if (alias === dotted || (ci && alias.toLowerCase() === lowered)) {
      const field = fieldAt(target);
      if (field !== undefined) return { kind: 'field', key: target, field, alias };
    }
  }
  let node: SchemaSection = ROOT;
  const path: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const name = childName(node, seg, ci);
    if (name === undefined)
      return { kind: 'unknown', key: [...path, seg].join('.'), hint: hintFor(node, path.join('.'), seg) };
    path.push(name);
    const child = node[name] as Field | SchemaSection;
    if (isField(child)) {
      const key = path.join('.');
      if (i === segments.length - 1) return { kind: 'field', key, field: child };
      if (child.kind === 'map') return { kind: 'entry', key, entry: segments.slice(i + 1).join('.'), field: child };
      return { kind: 'unknown', key: dotted, hint: `is not a known key; ${key} is a value, not a section` };
    }
    node = child;
  }
  return { kind: 'section', key: path.join('.'), section: node };
}

/** Every field with its dotted key, in schema order. */
export function allFields(
  section: SchemaSection = ROOT,
  prefix = '',
): Array<{ key: string; name: string; field: Field }> {
  const out: Array<{ key: string; name: string; field: Field }> = [];
  for (const [name, node] of Object.entries(section)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (isField(node)) out.push({ key, name, field: node });
    else out.push(...allFields(node, key));
  }
  return out;
}
