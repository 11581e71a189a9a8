import type { Node } from './node.js';

/**
 * A node application, the contract every user writes: a module whose default export (or `app`) registers routes
 * and events on a node. `duet node --app MODULE` loads it; an embedder passes it to createNode.
 */
export interface NodeApp {
  /** Default node name (the stateful group) when the config does not set one. */
  name?: string;
  register(node: Node): void | Promise<void>;
  /** Ends what register() started (timers); called after the node stopped. */
  stop?(): void | Promise<void>;
}
