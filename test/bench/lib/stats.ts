/** Small helpers for the bench's medians and per-run figures. */

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

/** Median of every numeric field across runs (fields missing in a run are skipped). */
export function medianOf<T extends Record<string, number>>(runs: T[]): T {
  const keys = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = median(runs.map((r) => r[k] as number));
  return out as T;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rotates `list` by `k` so alternating runs do not always start with the same system. */
export function rotate<T>(list: readonly T[], k: number): T[] {
  const n = list.length;
  if (n === 0) return [];
  const s = ((k % n) + n) % n;
  return [...list.slice(s), ...list.slice(0, s)];
}
