import { ConfigError } from '../errors.js';

/** `reconnect.*` options of the client. */
export interface ReconnectOptions {
  /** Reconnect after a lost connection (not after close()). Default true. */
  enabled: boolean;
  /** Delay before the first attempt. Default 250 ms. */
  initialDelayMs: number;
  /** Cap on any delay, applied before jitter so jitter never exceeds it. Default 30 000 ms. */
  maxDelayMs: number;
  /** Growth per attempt (>= 1). Default 2. */
  factor: number;
  /** Fraction in [0, 1] of the delay that is randomized downwards: delay ∈ [d·(1−jitter), d]. Default 0.5. */
  jitter: number;
  /** Attempts per lost connection before giving up; Infinity = never give up. Default Infinity. */
  maxAttempts: number;
}

export const DEFAULT_RECONNECT_OPTIONS: Readonly<ReconnectOptions> = Object.freeze({
  enabled: true,
  initialDelayMs: 250,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Number.POSITIVE_INFINITY,
});

/** Fills defaults and validates; throws ConfigError naming the field, the rule and the value. */
export function reconnectOptions(input: Partial<ReconnectOptions> = {}): ReconnectOptions {
  const o: ReconnectOptions = { ...DEFAULT_RECONNECT_OPTIONS, ...input };
  const bad = (field: keyof ReconnectOptions, rule: string): never => {
    throw new ConfigError(
      `reconnect.${field}`,
      o[field],
      `reconnect.${field} must be ${rule}, got ${String(o[field])}`,
    );
  };
  if (typeof o.enabled !== 'boolean') bad('enabled', 'a boolean');
  if (!(Number.isFinite(o.initialDelayMs) && o.initialDelayMs >= 0)) bad('initialDelayMs', 'a number >= 0');
  if (!(Number.isFinite(o.maxDelayMs) && o.maxDelayMs >= o.initialDelayMs)) {
    bad('maxDelayMs', `a number >= reconnect.initialDelayMs (${o.initialDelayMs})`);
  }
  if (!(Number.isFinite(o.factor) && o.factor >= 1)) bad('factor', 'a number >= 1');
  if (!(o.jitter >= 0 && o.jitter <= 1)) bad('jitter', 'a number in [0, 1]');
  if (!(o.maxAttempts === Number.POSITIVE_INFINITY || (Number.isInteger(o.maxAttempts) && o.maxAttempts >= 1))) {
    bad('maxAttempts', 'an integer >= 1 or Infinity');
  }
  return o;
}

/**
 * Delay before reconnect attempt `attempt` (1-based): initialDelayMs·factor^(attempt−1), capped at maxDelayMs, then
 * jittered downwards by up to `jitter` of itself so a fleet of clients dropped together does not return together.
 * `random` returns a value in [0, 1) (Math.random by default; tests pass their own). Pure: no state, no timers.
 */
export function backoffDelayMs(
  attempt: number,
  o: Pick<ReconnectOptions, 'initialDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'>,
  random: () => number = Math.random,
): number {
  // Math.min before the power would overflow to Infinity for large attempts; the cap keeps it finite either way.
  const grown = o.initialDelayMs * o.factor ** Math.max(0, attempt - 1);
  const capped = Math.min(o.maxDelayMs, Number.isFinite(grown) ? grown : o.maxDelayMs);
  const r = Math.min(Math.max(random(), 0), 1);
  return capped * (1 - o.jitter * r);
}
