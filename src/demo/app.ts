import type { NodeApp } from '../node/app.js';
import { registerDiagnostics } from './diagnostics.js';
import { type Game, type GameOptions, registerGame } from './game.js';

export type { NodeApp } from '../node/app.js';

/**
 * The demo app: the diagnostic routes 1-4 (a stable contract) and the game on routes 100+. `game.tickMs` longer
 * than a test keeps the rooms' Positions pushes out of it, so a recorded chat replays push for push.
 */
export function createDemoApp(game: GameOptions = {}): NodeApp {
  const games = new Set<Game>();
  return {
    name: 'game',
    register(node) {
      registerDiagnostics(node);
      games.add(registerGame(node, game));
    },
    stop() {
      for (const g of games) g.stop();
      games.clear();
    },
  };
}

/** The default app of `duet dev` and `duet node`. */
export const demoApp: NodeApp = createDemoApp();
