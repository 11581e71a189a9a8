/**
 * The locator's "reachable again" signal: listeners run after the store's connection came back from an outage, so
 * holders of bindings can claim them again. A listener that throws does not keep the others from running.
 */
export class ReconnectSignal {
  readonly #listeners = new Set<() => void>();

  /** Adds `listener`; returns the function that removes it. */
  on(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs every listener; errors are returned, not thrown, for the caller to report. */
  fire(): unknown[] {
    const errors: unknown[] = [];
    for (const l of [...this.#listeners]) {
      try {
        l();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
