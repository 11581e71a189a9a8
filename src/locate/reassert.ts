import { errorMessage } from '../errors.js';
import type { Log } from '../log/types.js';
import type { Locator } from './locator.js';

/** What one claim found: the binding is this instance's (claimed or already there), or a newer one holds it. */
export type ClaimOutcome = 'kept' | 'lost';

export interface ReassertStats {
  /** Re-assertion passes run (one per reconnect, merged when reconnects come faster than a pass). */
  runs: number;
  kept: number;
  lost: number;
  /** Claims that failed (the store went down again, or refused): retried on the next reconnect. */
  failed: number;
}

export interface ReasserterOptions<T> {
  locator: Pick<Locator, 'onReconnect'>;
  /** For logs: "gate bindings", "node bindings". */
  what: string;
  /** What this instance holds now, read at the start of each pass. */
  held: () => Iterable<T>;
  claim: (item: T) => Promise<ClaimOutcome>;
  /** Claims in flight at once: one batch goes out back to back on the connection (pipelined), then the next. */
  batchSize?: number;
  log: Log;
}

export const DEFAULT_REASSERT_BATCH = 256;

/**
 * Re-asserts the bindings an instance holds each time the locator reconnects: a store restarted without
 * persistence has lost them all, and nothing else would write them again (pushes by uid would fail, and a second
 * login would not displace the first). Claims never overwrite (see Locator.claimGate), so a pass after a mere
 * network blip changes nothing.
 */
export class Reasserter<T> {
  readonly stats: ReassertStats = { runs: 0, kept: 0, lost: 0, failed: 0 };
  readonly #o: ReasserterOptions<T>;
  #off: (() => void) | undefined;
  #again = false;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(o: ReasserterOptions<T>) {
    this.#o = o;
  }

  start(): void {
    this.#off ??= this.#o.locator.onReconnect(() => this.trigger());
  }

  /** Runs a pass now (after the current one when one is running). */
  trigger(): void {
    if (this.#stopped) return;
    this.#again = true;
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  /** Resolves once no pass is running or queued. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops listening; a running pass ends after its current batch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#off?.();
    await this.idle();
  }

  async #loop(): Promise<void> {
    // Starts on a later turn: the reconnect listener runs inside the store client's event handler.
    await Promise.resolve();
    while (this.#again && !this.#stopped) {
      this.#again = false;
      await this.#pass();
    }
  }

  async #pass(): Promise<void> {
    const o = this.#o;
    const items = [...o.held()];
    const batch = o.batchSize ?? DEFAULT_REASSERT_BATCH;
    const t0 = performance.now();
    let kept = 0;
    let lost = 0;
    let failed = 0;
    let cause: unknown;
    for (let i = 0; i < items.length && !this.#stopped; i += batch) {
      const results = await Promise.allSettled(items.slice(i, i + batch).map((item) => o.claim(item)));
      for (const r of results) {
        if (r.status === 'rejected') {
          failed++;
          cause ??= r.reason;
        } else if (r.value === 'kept') kept++;
        else lost++;
      }
      // The store went away again: the next reconnect starts a new pass over whatever is held then.
      if (failed > 0) break;
    }
    this.stats.runs++;
    this.stats.kept += kept;
    this.stats.lost += lost;
    this.stats.failed += failed;
    const fields = { held: items.length, kept, lost, failed, ms: Math.round(performance.now() - t0) };
    if (failed > 0)
      o.log.warn(`${o.what} not all re-asserted after locator reconnect`, { ...fields, err: errorMessage(cause) });
    else o.log.info(`${o.what} re-asserted after locator reconnect`, fields);
  }
}
