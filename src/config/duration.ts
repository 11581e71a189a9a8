/**
 * Duration and size strings as due writes them: durations accept `ns us µs ms s m h d`
 * (Go's time.ParseDuration plus `d`, compound like `1h30m`), sizes accept `B K KB M MB G GB` (1K = 1024).
 * Parsers return `undefined` on bad input so the caller can build a ConfigError that names the source.
 */

const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3, // U+03BC (Greek mu), which some keyboards type instead of the micro sign U+00B5
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const SIZE_UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

export const DURATION_UNITS = 'ns, us, µs, ms, s, m, h, d';
export const SIZE_UNITS = 'B, K, KB, M, MB, G, GB';

const DURATION_PART = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/**
 * Parses `"10s"`, `"1h30m"`, `"1.5s"`, `"250ms"` or `"0"` into milliseconds (may be fractional below 1 ms).
 * Returns undefined for anything else: negative values, missing units, unknown units, trailing text.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < s.length) {
    const m = DURATION_PART.exec(s);
    if (m === null) return undefined;
    const unit = DURATION_UNIT_MS[m[2] as string] as number;
    total += Number(m[1]) * unit;
  }
  return Number.isFinite(total) ? total : undefined;
}

const SIZE = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i;

/** Parses `"512"`, `"64K"`, `"1.5MB"`, `"100 MB"` into a whole number of bytes; undefined if not whole or not valid. */
export function parseSize(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] as string).toLowerCase();
  const mult = unit === '' ? 1 : SIZE_UNIT_BYTES[unit];
  if (mult === undefined) return undefined;
  const bytes = Number(m[1]) * mult;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The shortest exact spelling of a millisecond count: 10000 → "10s", 90000 → "90s", 1.5 → "1500us". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  const us = ms * 1000;
  return Number.isInteger(us) ? `${us}us` : `${Math.round(ms * 1e6)}ns`;
}

/** The shortest exact spelling of a byte count: 1048576 → "1MB", 1536 → "1536B". */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0B';
  for (const [unit, size] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
