import type { Uid } from '../../src/locate/locator.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';

/** A memory locator whose bindGate waits while `held` is set: a Redis round trip that takes as long as a test likes. */
export class HeldLocator extends MemoryLocator {
  held: Promise<void> | undefined;
  /** bindGate calls so far, held or not. */
  bindCalls = 0;
  override async bindGate(uid: Uid, gid: string): Promise<string | undefined> {
    this.bindCalls++;
    if (this.held) await this.held;
    return super.bindGate(uid, gid);
  }
}

/** Holds the locator's gate binds until the returned function is called. */
export function hold(locator: HeldLocator): () => void {
  let release!: () => void;
  locator.held = new Promise<void>((r) => (release = r));
  return () => {
    locator.held = undefined;
    release();
  };
}
