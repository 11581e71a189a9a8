import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3, Lease } from 'etcd3';
import { type ErrorReporter, errorMessage, UnavailableError } from '../errors.js';
import { withDeadline } from '../lifecycle.js';

/** The first re-register after a lost lease waits this long, doubling per failure up to retryInterval. */
const RETRY_MIN_MS = 200;

export interface LeasedKeyOptions {
  /** Lease TTL in whole seconds (due: retryInterval + 1). */
  ttlSec: number;
  /** Deadline of one grant + put. */
  timeoutMs: number;
  /** Quick re-register attempts (backoff from 200 ms) before falling back to one every retryIntervalMs. */
  retryTimes: number;
  retryIntervalMs: number;
  report: ErrorReporter;
}

/**
 * One key kept alive under its own lease (due registrar: grant, put with the lease, keep alive). When the lease is
 * lost (etcd restarted without its data, a stall past the TTL) the key is granted and put again, with backoff,
 * until stop(): due gives up after retryTimes, which would leave a live instance invisible for good.
 */
export class LeasedKey {
  readonly #client: Etcd3;
  readonly #key: string;
  #value: string;
  readonly #opts: LeasedKeyOptions;
  #lease: Lease | undefined;
  readonly #stopped = new AbortController();
  #recovering: Promise<void> | undefined;

  constructor(client: Etcd3, key: string, value: string, opts: LeasedKeyOptions) {
    this.#client = client;
    this.#key = key;
    this.#value = value;
    this.#opts = opts;
  }

  get key(): string {
    return this.#key;
  }

  /** Grants a lease and puts the key; rejects with UnavailableError (and keeps nothing) when etcd refuses. */
  async start(signal?: AbortSignal): Promise<void> {
    await this.#establish(signal);
  }

  /** Puts a new value (a state change) under the live lease; while recovering, the recovery puts it. */
  async update(value: string, signal?: AbortSignal): Promise<void> {
    this.#value = value;
    const lease = this.#lease;
    if (!lease || lease.revoked()) return;
    await this.#call('put', signal, () => lease.put(this.#key).value(value).exec());
  }

  async #establish(signal: AbortSignal | undefined): Promise<void> {
    const lease = this.#client.lease(this.#opts.ttlSec);
    // Registered before the grant resolves: a failed grant is also emitted as 'lost'.
    let granted = false;
    lease.on('lost', (err) => {
      if (granted && this.#lease === lease) this.#onLost(err);
    });
    try {
      await this.#call('lease grant + put', signal, async () => {
        await lease.grant();
        await lease.put(this.#key).value(this.#value).exec();
      });
    } catch (err) {
      lease.release();
      throw err;
    }
    if (this.#stopped.signal.aborted) {
      await lease.revoke().catch(() => {});
      return;
    }
    granted = true;
    this.#lease = lease;
  }

  #onLost(err: unknown): void {
    this.#lease = undefined;
    if (this.#stopped.signal.aborted || this.#recovering) return;
    this.#opts.report(err, `etcd lease of ${this.#key} lost; registering again`);
    this.#recovering = this.#recover().finally(() => {
      this.#recovering = undefined;
    });
  }

  async #recover(): Promise<void> {
    let delay = RETRY_MIN_MS;
    for (let attempt = 1; !this.#stopped.signal.aborted; attempt++) {
      try {
        await this.#establish(this.#stopped.signal);
        return;
      } catch (err) {
        if (this.#stopped.signal.aborted) return;
        this.#opts.report(err, `etcd re-register ${this.#key} (attempt ${attempt})`);
      }
      const wait = attempt < this.#opts.retryTimes ? delay : this.#opts.retryIntervalMs;
      delay = Math.min(delay * 2, this.#opts.retryIntervalMs);
      try {
        await sleep(wait, undefined, { signal: this.#stopped.signal });
      } catch {
        return;
      }
    }
  }

  /** Stops keeping the key alive and deletes it (due deregister); rejects with UnavailableError if etcd refuses. */
  async stop(signal?: AbortSignal): Promise<void> {
    this.#stopped.abort();
    await this.#recovering;
    const lease = this.#lease;
    this.#lease = undefined;
    await this.#call('delete', signal, () => this.#client.delete().key(this.#key).exec());
    // Deleting the key is what matters; the lease would expire by itself.
    if (lease) await this.#call('lease revoke', signal, () => lease.revoke()).catch(() => lease.release());
  }

  /** Ends the keepalive without touching etcd (dispose after a failed delete). */
  release(): void {
    this.#stopped.abort();
    this.#lease?.release();
    this.#lease = undefined;
  }

  async #call<T>(what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    let onAbort: (() => void) | undefined;
    try {
      const work = fn();
      work.catch(() => {});
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => {});
      return await withDeadline(Promise.race([work, aborted]), this.#opts.timeoutMs, `etcd ${what} ${this.#key}`);
    } catch (err) {
      signal?.throwIfAborted();
      throw new UnavailableError(`etcd ${what} ${this.#key} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }
}
