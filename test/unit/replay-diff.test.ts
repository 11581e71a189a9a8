import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareConnection,
  formatReplayReport,
  previewBytes,
  type ReplayPacket,
} from '../../src/replay/replay-diff.js';

/** Replay diffs: alignment by route/seq, push order, and a readable rendering. */

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const p = (route: number, seq: number, body: string): ReplayPacket => ({ route, seq, body: enc(body) });
const conn = { cid: 7, gid: 'g' };
const summary = (ms: ReturnType<typeof compareConnection>) =>
  ms.map((m) => `${m.index}:${m.expected ? m.expected.seq : '-'}/${m.actual ? m.actual.seq : '-'}`);

test('replay diff - equal lists have no mismatch', () => {
  const l = [p(1, 1, 'a'), p(9, 0, 'push'), p(1, 2, 'b')];
  assert.deepEqual(
    compareConnection(
      conn,
      l,
      l.map((x) => ({ ...x })),
    ),
    [],
  );
});

test('replay diff - a missing answer is missing, not a shift of every later pair', () => {
  const e = [p(1, 1, 'a'), p(1, 2, 'b'), p(1, 3, 'c'), p(1, 4, 'd')];
  const a = [p(1, 1, 'a'), p(1, 3, 'c'), p(1, 4, 'D')];
  assert.deepEqual(summary(compareConnection(conn, e, a)), ['1:2/-', '3:4/4']);
  assert.deepEqual(summary(compareConnection(conn, a, e)), ['1:-/2', '2:4/4']);
});

test('replay diff - push order matters unless ignorePushOrder, responses stay ordered', () => {
  const e = [p(1, 1, 'a'), p(9, 0, 'x'), p(9, 0, 'y'), p(1, 2, 'b')];
  const a = [p(1, 1, 'a'), p(9, 0, 'y'), p(9, 0, 'x'), p(1, 2, 'b')];
  assert.equal(compareConnection(conn, e, a).length, 2);
  assert.deepEqual(compareConnection(conn, e, a, { ignorePushOrder: true }), []);
  const extra = [...a, p(9, 0, 'z')];
  assert.deepEqual(summary(compareConnection(conn, e, extra, { ignorePushOrder: true })), ['4:-/0']);
});

test('replay diff - the text names cid, gate, route, seq and shows hex and utf8 of both sides', () => {
  const mismatches = compareConnection(conn, [p(1, 5, 'héllo')], [p(1, 5, 'hello')]);
  const text = formatReplayReport({
    ok: false,
    connections: 1,
    sent: 1,
    compared: 1,
    mismatches,
    closes: [],
    problems: [],
  });
  assert.equal(
    text,
    [
      'replay FAILED: 1 mismatches, 0 problems (1 connections, 1 packets sent, 1 answers recorded)',
      '  cid 7 (gate g) packet #0, route 1 seq 5: body differs from byte 1',
      '    expected: response route 1 seq 5 body 6 bytes: 68 c3 a9 6c 6c 6f  "héllo"',
      '    actual:   response route 1 seq 5 body 5 bytes: 68 65 6c 6c 6f  "hello"',
    ].join('\n'),
  );
  assert.equal(previewBytes(new Uint8Array(0)), '(empty)');
  assert.match(previewBytes(new Uint8Array(100).fill(0x41)), /^(41 ){47}41 … \(\+52 bytes\) {2}"A{48}"$/);
  assert.equal(previewBytes(Uint8Array.of(0, 10)), '00 0a  "\\u0000\\n"');
});

test('replay diff - the text shows the first mismatches and counts the rest', () => {
  const e = Array.from({ length: 30 }, (_, i) => p(1, i + 1, 'a'));
  const a = e.map((x) => ({ ...x, body: enc('b') }));
  const mismatches = compareConnection(conn, e, a);
  assert.equal(mismatches.length, 30);
  const report = { ok: false, connections: 1, sent: 30, compared: 30, mismatches, closes: [], problems: [] };
  const text = formatReplayReport(report);
  assert.equal(text.match(/^ {2}cid 7/gm)?.length, 20);
  assert.match(text, /\n {2}… and 10 more mismatches$/);
  assert.equal(formatReplayReport(report, { maxMismatches: 50 }).match(/^ {2}cid 7/gm)?.length, 30);
});
