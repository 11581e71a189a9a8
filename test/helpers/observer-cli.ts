/**
 * Runs the observer commands in a process of their own, as `duet trace|replay|capture` would (argv after the
 * script: the command word first). Used by the e2e tests until src/cli/main.ts dispatches these commands.
 */
import { runCapture } from '../../src/cli/capture-command.js';
import { runReplay } from '../../src/cli/replay-command.js';
import { runTrace } from '../../src/cli/trace-command.js';
import { errorMessage } from '../../src/errors.js';

const argv = process.argv.slice(2);
const run = { trace: runTrace, replay: runReplay, capture: runCapture }[argv[0] ?? ''];
if (!run) {
  console.error(`observer-cli: unknown command ${argv[0]}`);
  process.exit(2);
}
run(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`duet: ${errorMessage(err)}`);
    process.exitCode = err instanceof Error && 'path' in err ? 2 : 1;
  },
);
