/** Messages between test/soak/soak.ts and its load processes (soak-worker.ts), and small shared helpers. */

export interface WorkerConfig {
  url: string;
  count: number;
  /** First uid of this worker's sessions; uids are uidBase .. uidBase + count - 1. */
  uidBase: number;
  heartbeatMs: number;
  /** Each logged-in session sends one echo request this often. */
  echoEveryMs: number;
  /** Fraction of the sessions closed and reopened every churnEveryMs. */
  churnFraction: number;
  churnEveryMs: number;
  rampPerSec: number;
  reportMs: number;
}

/** Cumulative counters, except p50/p99 which cover the echo latencies since the previous report. */
export interface WorkerReport {
  type: 'report';
  open: number;
  loggedIn: number;
  connects: number;
  connectFailures: number;
  requests: number;
  responses: number;
  timeouts: number;
  loginErrors: number;
  /** Close codes of closes this worker did not ask for. */
  unexpectedCloses: Record<string, number>;
  churned: number;
  heartbeatsIn: number;
  p50Ms: number;
  p99Ms: number;
}

/** The value at quantile q (0..1) of an ascending array; 0 for an empty one. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}
