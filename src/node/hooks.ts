/** A node's lifecycle hooks (due cluster.Init / Start / Close / Destroy). */
export type HookName = 'init' | 'start' | 'close' | 'destroy';

const NAMES: readonly HookName[] = ['init', 'start', 'close', 'destroy'];

export class NodeHooks {
  readonly #hooks = new Map<HookName, (() => unknown)[]>();

  add(name: HookName, fn: () => unknown): void {
    if (!NAMES.includes(name)) throw new Error(`unknown hook ${String(name)}; hooks are ${NAMES.join(', ')}`);
    const list = this.#hooks.get(name) ?? [];
    list.push(fn);
    this.#hooks.set(name, list);
  }

  /** Runs the hooks of `name` in order. Without `onError` the first failure rejects (init, start fail the start). */
  async run(name: HookName, onError?: (err: unknown) => void): Promise<void> {
    for (const fn of this.#hooks.get(name) ?? []) {
      try {
        await fn();
      } catch (err) {
        if (!onError) throw err;
        onError(err);
      }
    }
  }
}
