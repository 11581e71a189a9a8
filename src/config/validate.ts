/**
 * Checks one raw value against its field and turns it into the typed value (durations → ms, sizes → bytes).
 * Returns the rule text on failure, so the loader can build a one-line ConfigError naming the source.
 */

import { redactUrlCredentials } from '../log/redact.js';
import { DURATION_UNITS, parseDuration, parseSize, SIZE_UNITS } from './duration.js';
import type { Field } from './fields.js';

export type FieldValue = string | number | boolean | readonly string[] | Readonly<Record<string, string>>;
export type Coerced = { ok: true; value: FieldValue } | { ok: false; rule: string };

const quote = (v: string): string => JSON.stringify(v);

/** "1, 2 or 4" / `"a", "b" or "c"`. */
export function listAllowed(values: readonly (string | number)[]): string {
  const shown = values.map((v) => (typeof v === 'string' ? quote(v) : String(v)));
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
}

function rangeRule(noun: string, min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
  if (min !== undefined) return `${noun} >= ${min}`;
  if (max !== undefined) return `${noun} <= ${max}`;
  return noun;
}

/** The allowed values of a field, in words (used in error messages and `duet config print --help`). */
export function describeRule(field: Field): string {
  switch (field.kind) {
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${listAllowed(field.values)}`;
    case 'int':
      return rangeRule('an integer', field.min, field.max);
    case 'intOf':
      return listAllowed(field.values);
    case 'number':
      return rangeRule('a number', field.min, field.max);
    case 'bool':
      return 'true or false';
    case 'duration':
      return `a duration such as "10s" (units ${DURATION_UNITS})${field.bareUnit ? ' or a whole number of seconds' : ''}`;
    case 'size':
      return `a size in bytes, or a string with a unit (${SIZE_UNITS})`;
    case 'strings':
      return 'a list of strings';
    case 'map':
      return 'a table of string values';
  }
}

function isStringRecord(v: unknown): v is Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) return false;
  return Object.values(v).every((x) => typeof x === 'string');
}

/** A TOML list, table or date: never the text of a scalar key. */
function isStructured(v: unknown): boolean {
  return typeof v === 'object' && v !== null;
}

function inRange(n: number, min: number | undefined, max: number | undefined): boolean {
  return (min === undefined || n >= min) && (max === undefined || n <= max);
}

/**
 * `raw` is the parsed TOML value; `text` is the literal text when the value came from an env var or a flag, so a
 * string key keeps `123` or `true` verbatim and a list key accepts `a,b`.
 */
export function coerce(field: Field, raw: unknown, text?: string): Coerced {
  const fail = (): Coerced => ({ ok: false, rule: describeRule(field) });
  // Env and flag text keeps scalars verbatim (`123` for a string key), but a list or table written there is a
  // typing mistake, not a string: `DUET__BUS__NATS__TOKEN=["t"]` must stop the process, not become the token.
  if (isStructured(raw) && field.kind !== 'strings' && field.kind !== 'map') return fail();
  if (field.kind === 'strings' && isStructured(raw) && !Array.isArray(raw)) return fail();
  const asText = typeof raw === 'string' ? raw : text;
  switch (field.kind) {
    case 'string':
      return asText === undefined ? fail() : { ok: true, value: asText };
    case 'enum':
      return asText !== undefined && field.values.includes(asText) ? { ok: true, value: asText } : fail();
    case 'int':
      return typeof raw === 'number' && Number.isSafeInteger(raw) && inRange(raw, field.min, field.max)
        ? { ok: true, value: raw }
        : fail();
    case 'intOf':
      return typeof raw === 'number' && field.values.includes(raw) ? { ok: true, value: raw } : fail();
    case 'number':
      return typeof raw === 'number' && Number.isFinite(raw) && inRange(raw, field.min, field.max)
        ? { ok: true, value: raw }
        : fail();
    case 'bool':
      return typeof raw === 'boolean' ? { ok: true, value: raw } : fail();
    case 'duration': {
      if (typeof raw === 'number') {
        if (raw === 0) return { ok: true, value: 0 };
        return field.bareUnit === 's' && Number.isSafeInteger(raw) && raw > 0
          ? { ok: true, value: raw * 1000 }
          : fail();
      }
      const ms = asText === undefined ? undefined : parseDuration(asText);
      return ms === undefined ? fail() : { ok: true, value: ms };
    }
    case 'size': {
      if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? { ok: true, value: raw } : fail();
      const bytes = asText === undefined ? undefined : parseSize(asText);
      return bytes === undefined ? fail() : { ok: true, value: bytes };
    }
    case 'strings': {
      if (Array.isArray(raw)) return raw.every((x) => typeof x === 'string') ? { ok: true, value: [...raw] } : fail();
      if (text === undefined) return fail();
      // From env or a flag, "a,b" is a list of two; the TOML form ["a","b"] parses as an array above.
      const items = text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      return { ok: true, value: items };
    }
    case 'map':
      return isStringRecord(raw) ? { ok: true, value: { ...raw } } : fail();
  }
}

/** A value kept on a ConfigError: secrets replaced, URL credentials (`nats://u:pw@h`) removed, lists too. */
export function keptValue(value: unknown, secret = false): unknown {
  if (secret) return '***';
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (Array.isArray(value)) return value.map((v) => keptValue(v));
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keptValue(v)]));
  }
  return value;
}

/** How a bad value is quoted in an error: strings quoted, secrets and URL credentials hidden, long values cut. */
export function showValue(value: unknown, secret = false): string {
  if (secret) return '"***"';
  let s: string;
  if (typeof value === 'string') s = quote(value);
  else if (value instanceof Date) s = value.toISOString();
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  s = redactUrlCredentials(s);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
