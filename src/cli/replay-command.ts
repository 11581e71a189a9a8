import { parseArgs } from '../config/args.js';
import { DuetError, ErrorCode, errorMessage } from '../errors.js';
import { replayCapture } from '../replay/replay.js';
import { formatReplayReport } from '../replay/replay-diff.js';
import { openWsReplayConnection } from './ws-replay-connection.js';

export const REPLAY_HELP = `duet replay FILE --url ws://HOST:PORT/ [--fast] [--ignore-push-order] [--json]
Re-sends the client side of a capture (one connection per recorded cid) with its recorded timing (or --fast:
as soon as the answers recorded before each packet have come), compares the server's answers with the recorded
ones by route, seq and body (heartbeats ignored) and prints the differences.
Exit codes: 0 no difference, 1 differences or connection problems, 2 bad usage or an unreadable capture file.`;

export interface ReplayIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** `duet replay`: see REPLAY_HELP for the exit codes. */
export async function runReplay(argv: string[], io: ReplayIo = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const args = parseArgs(argv, {
    url: { type: 'string' },
    fast: { type: 'boolean' },
    'ignore-push-order': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const [, file, ...rest] = args.command;
  const url = args.options.url;
  if (!file || rest.length > 0 || typeof url !== 'string') {
    err(`duet replay: expected one FILE and --url, got ${JSON.stringify(argv.join(' '))}\n\n${REPLAY_HELP}`);
    return 2;
  }
  if (!/^wss?:\/\//.test(url)) {
    err(`duet replay: --url must be a ws:// or wss:// URL, got ${url}`);
    return 2;
  }
  const ac = new AbortController();
  const onSignal = (): void => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  try {
    const report = await replayCapture(file, {
      url,
      connect: openWsReplayConnection,
      fast: args.options.fast === true,
      ignorePushOrder: args.options['ignore-push-order'] === true,
      signal: ac.signal,
    });
    if (args.options.json)
      out(JSON.stringify(report, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));
    else out(formatReplayReport(report));
    return report.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof DuetError && e.code === ErrorCode.CAPTURE_CORRUPT) {
      err(`duet replay: ${e.message}`);
      return 2;
    }
    err(`duet replay: ${errorMessage(e)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
  }
}
