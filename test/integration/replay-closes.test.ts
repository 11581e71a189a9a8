import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CaptureWriter, loadCapture } from '../../src/replay/capture-file.js';
import { type CaptureEntry, closeData, parseCloseData } from '../../src/replay/capture-records.js';
import { type DiagnosticCluster, startDiagnosticCluster } from '../helpers/diagnostic-cluster.js';
import { formatReplayReport, replay } from '../helpers/replay.js';

/** A gate capture records each connection's close code; replay compares the server's closes with it. */

const fixture = new URL('../fixtures/captures/kick-same-uid.capture', import.meta.url).pathname;
let dir = '';
let cluster: DiagnosticCluster;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'duet-replay-closes-'));
  cluster = await startDiagnosticCluster();
});
after(async () => {
  await cluster[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

/** The fixture rewritten with its close entries changed by `edit` (undefined drops the entry). */
async function doctored(name: string, edit: (e: CaptureEntry) => CaptureEntry | undefined): Promise<string> {
  const { header, entries } = await loadCapture(fixture);
  const path = join(dir, `${name}.capture`);
  const w = await CaptureWriter.open({ path, packet: header.packet, source: `doctored ${name}`, maxFiles: 1 });
  for (const e of entries) {
    const x = e.kind === 'close' ? edit(e) : e;
    if (x) w.write(x);
  }
  await w.close();
  return path;
}

const isKick = (e: CaptureEntry): boolean => parseCloseData(e.data).code === 4003;

test('the kick fixture records the displaced connection closing with 4003, and replays with the same close', async () => {
  const { entries } = await loadCapture(fixture);
  const closes = entries.filter((e) => e.kind === 'close').map((e) => [e.cid, parseCloseData(e.data).code]);
  assert.deepEqual(closes, [
    [1, 4003],
    [2, 1000],
    [3, 1000],
  ]);
  const r = await replay(fixture, cluster);
  assert.equal(r.ok, true, formatReplayReport(r));
  assert.deepEqual(r.closes, []);
});

test('a recorded close code the server no longer sends is a close mismatch', async () => {
  const path = await doctored('other-code', (e) => (isKick(e) ? { ...e, data: closeData(4008, 'kicked') } : e));
  const r = await replay(path, cluster);
  assert.equal(r.ok, false);
  assert.deepEqual(r.closes, [{ cid: 1, gid: 'gate-1', expected: 4008, actual: 4003 }], formatReplayReport(r));
  assert.match(formatReplayReport(r), /cid 1 \(gate gate-1\): expected close 4008, got close 4003/);
});

test('a server close the capture does not show is a close mismatch', async () => {
  const path = await doctored('no-kick', (e) => (isKick(e) ? undefined : e));
  const r = await replay(path, cluster);
  assert.deepEqual(r.closes, [{ cid: 1, gid: 'gate-1', expected: undefined, actual: 4003 }], formatReplayReport(r));
  assert.match(formatReplayReport(r), /expected not closed by the server, got close 4003/);
});
