import type { Node } from '../node/node.js';
import { registerDiagnostics } from './diagnostics.js';

/** A node application: a module whose default export (or `app`) registers routes and events on a node. */
export interface NodeApp {
  /** Default node name (the stateful group) when the config does not set one. */
  name?: string;
  register(node: Node): void | Promise<void>;
  /** Releases what register() started (timers), after the node stopped. */
  stop?(): void | Promise<void>;
}

/** The default app of `duet dev` and `duet node`. */
export const demoApp: NodeApp = {
  name: 'game',
  register(node) {
    registerDiagnostics(node);
  },
};
