/**
 * A mergeable latency histogram in microseconds: 1 µs buckets below 1 ms, then buckets 1 % wide (so p99 of a 30 ms
 * run is exact to ~0.3 ms). Workers send their counts to the runner, which adds them up.
 */
const LINEAR_US = 1000;
const GROWTH = Math.log(1.01);
const BUCKETS = LINEAR_US + Math.ceil(Math.log(120_000_000 / LINEAR_US) / GROWTH) + 1;

function indexOf(us: number): number {
  if (us < LINEAR_US) return us <= 0 ? 0 : Math.floor(us);
  const i = LINEAR_US + Math.floor(Math.log(us / LINEAR_US) / GROWTH);
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The upper edge of a bucket, in µs. */
function upperEdge(i: number): number {
  if (i < LINEAR_US) return i + 1;
  return LINEAR_US * Math.exp((i - LINEAR_US + 1) * GROWTH);
}

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  total = 0;
  sumUs = 0;
  maxUs = 0;

  record(us: number): void {
    const i = indexOf(us);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.total++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** Sparse form for IPC: [index, count] pairs. */
  toJSON(): { pairs: number[]; total: number; sumUs: number; maxUs: number } {
    const pairs: number[] = [];
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i] as number;
      if (c > 0) pairs.push(i, c);
    }
    return { pairs, total: this.total, sumUs: this.sumUs, maxUs: this.maxUs };
  }

  add(h: { pairs: number[]; total: number; sumUs: number; maxUs: number }): void {
    for (let k = 0; k < h.pairs.length; k += 2) {
      const i = h.pairs[k] as number;
      this.counts[i] = (this.counts[i] as number) + (h.pairs[k + 1] as number);
    }
    this.total += h.total;
    this.sumUs += h.sumUs;
    if (h.maxUs > this.maxUs) this.maxUs = h.maxUs;
  }

  /** The value below which fraction `q` of the samples fall, in µs (NaN when empty). */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const want = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= want) return Math.min(upperEdge(i), this.maxUs);
    }
    return this.maxUs;
  }
}

export type HistogramJson = ReturnType<Histogram['toJSON']>;
