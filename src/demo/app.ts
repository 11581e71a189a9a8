import type { Node } from '../node/node.js';
import { registerDiagnostics } from './diagnostics.js';
import { type Game, registerGame } from './game.js';

/** A node application: a module whose default export (or `app`) registers routes and events on a node. */
export interface NodeApp {
  /** Default node name (the stateful group) when the config does not set one. */
  name?: string;
  register(node: Node): void | Promise<void>;
  /** Ends what register() started (timers); called after the node stopped. */
  stop?(): void | Promise<void>;
}

/** The demo app: the diagnostic routes 1-4 (a stable contract) and the game on routes 100+. */
export function createDemoApp(): NodeApp {
  const games = new Set<Game>();
  return {
    name: 'game',
    register(node) {
      registerDiagnostics(node);
      games.add(registerGame(node));
    },
    stop() {
      for (const g of games) g.stop();
      games.clear();
    },
  };
}

/** The default app of `duet dev` and `duet node`. */
export const demoApp: NodeApp = createDemoApp();
