/**
 * Refused and reaped sockets are logged, but a flood of them must not become a flood of lines: at most one line
 * per reason per interval, carrying how many of that reason were left out since the previous line.
 */
import type { Log } from '../log/types.js';

export const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class RefusalLog {
  readonly #log: Log;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(log: Log, intervalMs = REFUSAL_LOG_INTERVAL_MS, now: () => number = Date.now) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** One refusal (or reap) of `reason` for a client at `ip`. */
  note(reason: string, ip: string, status: number | undefined): void {
    const now = this.#now();
    const seen = this.#last.get(reason);
    if (seen !== undefined && now - seen.atMs < this.#intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.#last.set(reason, { atMs: now, suppressed: 0 });
    this.#log.warn('connection refused', {
      reason,
      ip,
      ...(status === undefined ? {} : { status }),
      // lines of this reason left out since the previous one (rate limit), so totals stay visible in the log
      suppressed,
    });
  }
}
