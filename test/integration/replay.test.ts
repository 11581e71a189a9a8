import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { BusCapture } from '../../src/replay/bus-capture.js';
import { CaptureWriter, loadCapture } from '../../src/replay/capture-file.js';
import { packetsFromEnvelopes } from '../../src/replay/envelope-packets.js';
import { startEmbedded } from '../harness/embedded.js';
import { connect } from '../harness/ws-client.js';
import { startDiagnosticCluster } from '../helpers/diagnostic-cluster.js';
import { formatReplayReport, replay } from '../helpers/replay.js';

/** Replay (issue 7): the committed fixtures replay against the demo app with no diff, and a changed echo shows one. */

const fixture = (name: string): string => new URL(`../fixtures/captures/${name}.capture`, import.meta.url).pathname;
const FIXTURES = ['login-whoami', 'echo-burst', 'kick-same-uid'];

describe('replay - fixtures against the embedded gate', () => {
  for (const name of FIXTURES) {
    it(`replay - ${name} replays with no diff`, async (t) => {
      // node-1: the fixtures' whoami answers name the node that made them.
      const e = await startEmbedded({ nodeId: 'node-1' });
      t.after(() => e[Symbol.asyncDispose]());
      const report = await replay(fixture(name), e);
      assert.ok(report.ok, formatReplayReport(report));
      assert.ok(report.compared > 0 && report.sent >= report.compared - 1, `${report.sent} sent, ${report.compared}`);
      if (name === 'kick-same-uid') assert.equal(report.connections, 3);
      if (name === 'echo-burst') assert.equal(report.compared, 50);
    });
  }

  it('replay - timed replay keeps the recorded gaps and still matches', async (t) => {
    const e = await startEmbedded({ nodeId: 'node-1' });
    t.after(() => e[Symbol.asyncDispose]());
    const started = performance.now();
    const report = await replay(fixture('login-whoami'), e, { fast: false });
    assert.ok(report.ok, formatReplayReport(report));
    // The recorded client packets span ~28 ms (first to last in); a timed replay cannot be quicker than that.
    assert.ok(performance.now() - started >= 25, `took ${performance.now() - started} ms`);
  });
});

describe('replay - a changed echo handler', () => {
  it('replay - the diff names the route, seq and shows expected vs actual bytes', async (t) => {
    const c = await startDiagnosticCluster({
      echo: (body) => new TextEncoder().encode(new TextDecoder().decode(body).toUpperCase()),
    });
    t.after(() => c[Symbol.asyncDispose]());
    const report = await replay(fixture('echo-burst'), c);
    assert.equal(report.ok, false);
    assert.equal(report.mismatches.length, 50, 'every echo answer differs');
    const first = report.mismatches[0];
    assert.ok(first?.expected && first.actual);
    assert.equal(first.expected.route, 1);
    assert.equal(first.expected.seq, 1);
    assert.equal(new TextDecoder().decode(first.expected.body), 'echo 0 ');
    assert.equal(new TextDecoder().decode(first.actual.body), 'ECHO 0 ');
    const text = formatReplayReport(report);
    assert.match(text, /^replay FAILED: 50 mismatches/);
    assert.match(text, /cid 1 \(gate gate-1\) packet #0, route 1 seq 1: body differs from byte 0/);
    assert.match(text, /expected: response route 1 seq 1 body 7 bytes: 65 63 68 6f 20 30 20 {2}"echo 0 "/);
    assert.match(text, /actual: {3}response route 1 seq 1 body 7 bytes: 45 43 48 4f 20 30 20 {2}"ECHO 0 "/);
  });

  it('replay - answers that never come are reported missing, one differing answer alone', async (t) => {
    const silent = await startDiagnosticCluster({ echo: (body) => (body.length % 2 === 0 ? body : undefined) });
    t.after(() => silent[Symbol.asyncDispose]());
    const report = await replay(fixture('echo-burst'), silent, { settleMs: 300 });
    // Bodies of odd length get no answer: those are missing, and every other answer still pairs up.
    const missing = report.mismatches.filter((m) => m.actual === undefined);
    assert.ok(missing.length > 0 && missing.length < 50, `${missing.length} missing`);
    assert.ok(missing.every((m) => m.expected && m.expected.body.length % 2 === 1));
    assert.equal(missing.length, report.mismatches.length, 'nothing but the missing answers differs');
    assert.match(
      formatReplayReport(report),
      /route 1 seq \d+: missing\n {4}expected: response route 1[^\n]*\n {4}actual: {3}\(nothing\)/,
    );

    const other = await startDiagnosticCluster({ nodeId: 'node-2' });
    t.after(() => other[Symbol.asyncDispose]());
    const whoami = await replay(fixture('login-whoami'), other);
    assert.equal(whoami.ok, false);
    assert.deepEqual(
      whoami.mismatches.map((m) => [m.index, m.expected?.route, new TextDecoder().decode(m.actual?.body)]),
      [[1, 3, '1001@node-2']],
    );
    assert.match(formatReplayReport(whoami), /"1001@node-1"[\s\S]*"1001@node-2"/);
  });

  it('replay - a corrupt fixture is an error naming the offset', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'duet-replay-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const c = await startDiagnosticCluster();
    t.after(() => c[Symbol.asyncDispose]());
    const path = join(dir, 'cut.capture');
    await copyFile(fixture('login-whoami'), path);
    await truncate(path, (await stat(path)).size - 2);
    await assert.rejects(replay(path, c), { code: 'DUET_ERR_CAPTURE_CORRUPT', message: /at byte offset \d+/ });
  });
});

describe('replay - a bus capture', () => {
  it('replay - envelopes recorded from the bus replay through the client packets they carried', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'duet-replay-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'bus.capture');
    const bus = new MemoryBus();
    const recorded = await startDiagnosticCluster({ bus });
    t.after(async () => {
      await recorded[Symbol.asyncDispose]();
      await bus.drain();
    });
    const writer = await CaptureWriter.open({ path, source: 'test bus' });
    const capture = await BusCapture.start({ bus, writer });
    // The same traffic seen by a node recording itself, and by a recorder of a node that does not exist.
    const nodeWriter = await CaptureWriter.open({ path: join(dir, 'node.capture') });
    const nodeCapture = await BusCapture.start({ bus, writer: nodeWriter, nid: 'node-1' });
    const noneWriter = await CaptureWriter.open({ path: join(dir, 'none.capture') });
    const noneCapture = await BusCapture.start({ bus, writer: noneWriter, nid: 'node-9' });
    const a = await connect(recorded.url);
    t.after(() => a[Symbol.asyncDispose]());
    await a.request(2, '3003');
    assert.equal((await a.request(3)).text, '3003@node-1');
    await a.request(1, 'through the bus');
    const b = await connect(recorded.url);
    t.after(() => b[Symbol.asyncDispose]());
    await b.request(2, '3003');
    await a.waitClose();
    await b.request(3);
    await capture.stop();
    await writer.close();
    for (const [c, w] of [
      [nodeCapture, nodeWriter],
      [noneCapture, noneWriter],
    ] as const) {
      await c.stop();
      await w.close();
    }

    const { entries } = await loadCapture(path);
    assert.ok(entries.length > 0 && entries.every((e) => e.kind === 'envelope'));
    const packets = packetsFromEnvelopes(entries, new PacketCodec());
    assert.equal((await loadCapture(join(dir, 'node.capture'))).entries.length, entries.length, 'one node: all of it');
    assert.equal((await loadCapture(join(dir, 'none.capture'))).entries.length, 0);
    assert.deepEqual(
      packets.map((p) => `${p.direction} ${p.cid}`),
      ['in 1', 'out 1', 'in 1', 'out 1', 'in 1', 'out 1', 'in 2', 'out 2', 'in 2', 'out 2'],
    );

    const fresh = await startDiagnosticCluster();
    t.after(() => fresh[Symbol.asyncDispose]());
    const report = await replay(path, fresh);
    assert.ok(report.ok, formatReplayReport(report));
    assert.equal(report.compared, 5);
    assert.equal(report.connections, 2);

    const changed = await startDiagnosticCluster({ echo: () => new TextEncoder().encode('changed') });
    t.after(() => changed[Symbol.asyncDispose]());
    const diff = await replay(path, changed);
    assert.deepEqual(
      diff.mismatches.map((m) => [m.cid, m.index, m.expected?.route]),
      [[1, 2, 1]],
    );
  });
});
