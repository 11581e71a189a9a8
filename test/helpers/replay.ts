import { openWsReplayConnection } from '../../src/cli/ws-replay-connection.js';
import { type ReplayOptions, replayCapture } from '../../src/replay/replay.js';
import { formatReplayReport, type ReplayReport } from '../../src/replay/replay-diff.js';

export { formatReplayReport };

/**
 * Replays a capture fixture against a running gate (`await replay('test/fixtures/captures/x.capture', cluster)`):
 * fast by default (causal order kept, recorded gaps dropped). Resolves with the report; assert on `ok`, and print
 * `formatReplayReport(report)` in the assertion message so a failure reads as a diff.
 */
export function replay(
  file: string | URL,
  target: { url: string },
  opts: Partial<Omit<ReplayOptions, 'url'>> = {},
): Promise<ReplayReport> {
  const path = file instanceof URL ? file.pathname : file;
  return replayCapture(path, { fast: true, connect: openWsReplayConnection, ...opts, url: target.url });
}
