// Issue 20 case 2: refusals are logged rate-limited, and the refusals left out are still reported (summary line).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Log, LogFields } from '../../src/log/types.js';
import { RefusalLog } from '../../src/network/refusal-log.js';

function recorder(): Log & { lines: Array<{ msg: string; fields: LogFields }> } {
  const lines: Array<{ msg: string; fields: LogFields }> = [];
  const log: Log & { lines: typeof lines } = {
    lines,
    debug: () => {},
    info: () => {},
    warn: (msg, fields = {}) => void lines.push({ msg, fields }),
    error: () => {},
    child: () => log,
  };
  return log;
}

test('refusal log - first refusal of a reason at once, the rest summed when the interval ends, per reason', async () => {
  const log = recorder();
  let nowMs = 0; // the window is decided on this clock; only the summary timer is real (at most 50 ms)
  const r = new RefusalLog(log, 50, () => nowMs);
  for (let i = 0; i < 5; i++) r.note('too-many-handshakes', `127.0.0.${i}`, 503);
  r.note('handshake-timeout', '10.0.0.1', undefined);
  assert.deepEqual(log.lines, [
    { msg: 'connection refused', fields: { reason: 'too-many-handshakes', ip: '127.0.0.0', status: 503 } },
    { msg: 'connection refused', fields: { reason: 'handshake-timeout', ip: '10.0.0.1' } },
  ]);
  nowMs = 60;
  const deadline = Date.now() + 5000;
  while (log.lines.length < 3 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  assert.deepEqual(log.lines[2], {
    msg: 'connections refused',
    fields: { reason: 'too-many-handshakes', count: 4, lastIp: '127.0.0.4', overMs: 50 },
  });
  // a new window starts with a line of its own
  nowMs = 70;
  r.note('too-many-handshakes', '127.0.0.9', 503);
  assert.equal(log.lines.length, 4);
  r.note('too-many-handshakes', '127.0.0.9', 503);
  r.close();
  const last: LogFields | undefined = log.lines[log.lines.length - 1]?.fields;
  assert.equal(last?.count, 1, 'close() reports what is still counted');
});
