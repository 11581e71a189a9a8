/**
 * Refused and reaped sockets are logged, but a flood of them must not become a flood of lines: the first of each
 * reason is logged at once, the rest of the interval only counted, and when the interval ends one summary line per
 * reason gives that count (so a burst that stops is still reported in full).
 */
import type { Log } from '../log/types.js';

export const REFUSAL_LOG_INTERVAL_MS = 10_000;

interface Window {
  startMs: number;
  suppressed: number;
  lastIp: string;
}

export class RefusalLog {
  readonly #log: Log;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Log, intervalMs = REFUSAL_LOG_INTERVAL_MS, now: () => number = Date.now) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** One refusal (or reap) of `reason` for a client at `ip`; `status` is the HTTP answer, if one was sent. */
  note(reason: string, ip: string, status: number | undefined): void {
    const now = this.#now();
    const w = this.#windows.get(reason);
    if (w !== undefined && now - w.startMs < this.#intervalMs) {
      w.suppressed++;
      w.lastIp = ip;
      this.#timer ??= this.#schedule(w.startMs + this.#intervalMs - now);
      return;
    }
    this.#windows.set(reason, { startMs: now, suppressed: 0, lastIp: ip });
    this.#log.warn('connection refused', { reason, ip, ...(status === undefined ? {} : { status }) });
  }

  /** Logs what is still counted and stops the timer (the transport closing). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush(Number.POSITIVE_INFINITY);
  }

  #schedule(delayMs: number): NodeJS.Timeout {
    const t = setTimeout(
      () => {
        this.#timer = undefined;
        this.#flush(this.#now());
      },
      Math.max(1, delayMs),
    );
    t.unref();
    return t;
  }

  /** One summary line per reason whose window has ended with refusals left out; windows still open reschedule. */
  #flush(now: number): void {
    let nextMs = Number.POSITIVE_INFINITY;
    for (const [reason, w] of this.#windows) {
      const endMs = w.startMs + this.#intervalMs;
      if (endMs > now) {
        if (w.suppressed > 0) nextMs = Math.min(nextMs, endMs);
        continue;
      }
      if (w.suppressed > 0) {
        this.#log.warn('connections refused', {
          reason,
          count: w.suppressed,
          lastIp: w.lastIp,
          overMs: this.#intervalMs,
        });
      }
      this.#windows.delete(reason);
    }
    if (nextMs !== Number.POSITIVE_INFINITY && this.#timer === undefined) this.#timer = this.#schedule(nextMs - now);
  }
}
