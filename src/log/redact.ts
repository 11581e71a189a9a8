/**
 * Keeps secrets out of logs: values under secret-looking keys become "***", and credentials inside URLs
 * (`nats://user:pw@host`, `redis://:pw@host`) lose their user:password part. Byte arrays become a short hex preview.
 */
import type { LogFields } from './types.js';

export const REDACTED = '***';

/** password, pass, passwd, token, secret, authorization, cookie, and any key ending in Password, Token or Secret. */
const SECRET_KEY = /^(?:pass|passwd|authorization|cookie)$|(?:password|token|secret)$/i;
const URL_CREDENTIALS = /(\/\/)[^/@\s]*:[^/@\s]*@/g;
const MAX_DEPTH = 4;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** `nats://user:pw@host:4222` → `nats://***@host:4222`; other strings unchanged. */
export function redactUrlCredentials(s: string): string {
  return s.includes('@') ? s.replace(URL_CREDENTIALS, `$1${REDACTED}@`) : s;
}

const BYTES_SHOWN = 32;

/** Packets in logs: a hex preview and the length, not a JSON object with one key per byte. */
function showBytes(b: Uint8Array): string {
  const hex = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, BYTES_SHOWN)).toString('hex');
  return `${hex}${b.length > BYTES_SHOWN ? '…' : ''} (${b.length} B)`;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (value instanceof Uint8Array) return showBytes(value);
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return value;
  // Errors, byte arrays, dates and class instances keep their own serializers.
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  return redactObject(value as Record<string, unknown>, depth + 1);
}

function redactObject(fields: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== '' ? REDACTED : redactValue(v, depth);
  }
  return out;
}

/** A copy of `fields` with secrets hidden (nested plain objects and arrays too, up to 4 levels). */
export function redactFields(fields: LogFields): LogFields {
  return redactObject(fields, 0);
}
