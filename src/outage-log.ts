import type { Log } from './log/types.js';

/**
 * One log line per transition of a dependency (NATS, Redis): "lost" when it goes down, "restored" with the
 * outage's length when it comes back, and one count per outage; reconnect attempts in between stay quiet.
 */
export class OutageLog {
  readonly #log: Log;
  readonly #count: (dependency: string) => void;
  readonly #downSince = new Map<string, number>();

  constructor(log: Log, count: (dependency: string) => void) {
    this.#log = log;
    this.#count = count;
  }

  set(dependency: string, up: boolean): void {
    const since = this.#downSince.get(dependency);
    if (!up) {
      if (since !== undefined) return;
      this.#downSince.set(dependency, Date.now());
      this.#count(dependency);
      this.#log.warn(`${dependency} connection lost`, { dependency });
      return;
    }
    if (since === undefined) return;
    this.#downSince.delete(dependency);
    this.#log.warn(`${dependency} connection restored`, { dependency, downMs: Date.now() - since });
  }

  /** Dependencies down now. */
  get down(): string[] {
    return [...this.#downSince.keys()];
  }
}
