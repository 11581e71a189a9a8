import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ErrorCode } from '../../src/errors.js';
import {
  CaptureCorruptError,
  CaptureWriter,
  listCaptureFiles,
  loadCapture,
  openCapture,
  rotatedCaptureName,
} from '../../src/replay/capture-file.js';
import type { CaptureEntry } from '../../src/replay/capture-records.js';

/** Capture files (proto/capture.proto): round trip, bounded rotation, and errors that name the byte offset. */

const dir = await mkdtemp(join(tmpdir(), 'duet-capture-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `t${++n}.capture`);

function entry(i: number, o: Partial<CaptureEntry> = {}): Omit<CaptureEntry, 'monoNs'> {
  return {
    tsMs: 1_700_000_000_000 + i,
    direction: i % 2 === 0 ? 'in' : 'out',
    gid: 'g1',
    nid: '',
    cid: 1 + (i % 3),
    uid: i % 3 === 0 ? 0 : 1000 + i,
    kind: 'packet',
    data: new Uint8Array([0, 0, 0, 5, 0, 0, 1, 0, i & 0xff]),
    subject: '',
    ...o,
  };
}

async function writeEntries(path: string, count: number, opts: { maxBytes?: number; maxFiles?: number } = {}) {
  const w = await CaptureWriter.open({ path, packet: { routeBytes: 2, seqBytes: 2 }, source: 'test', ...opts });
  for (let i = 0; i < count; i++) w.write(entry(i));
  await w.close();
  return w;
}

async function expectCorrupt(path: string, offset: number, pattern: RegExp): Promise<CaptureCorruptError> {
  const err = await loadCapture(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof CaptureCorruptError, `expected CaptureCorruptError, got ${String(err)}`);
  assert.equal(err.code, ErrorCode.CAPTURE_CORRUPT);
  assert.equal(err.offset, offset);
  assert.match(err.message, new RegExp(`byte offset ${offset}\\b`));
  assert.match(err.message, pattern);
  return err;
}

test('capture file - entries round trip with header, directions, kinds and bytes', async () => {
  const path = fresh();
  const w = await CaptureWriter.open({
    path,
    packet: { byteOrder: 'little', routeBytes: 4, seqBytes: 1 },
    source: 'gate g1',
  });
  const big = new Uint8Array(70_000).map((_, i) => i % 251);
  w.write(entry(0));
  w.write(entry(1, { kind: 'envelope', subject: 'duet.node.n1.deliver', nid: 'n1', data: big }));
  w.write(entry(2, { uid: 2 ** 40 + 3, cid: 2 ** 33 }));
  await w.close();
  const { header, entries } = await loadCapture(path);
  assert.equal(header.version, 1);
  assert.equal(header.source, 'gate g1');
  assert.deepEqual(
    { byteOrder: header.packet.byteOrder, routeBytes: header.packet.routeBytes, seqBytes: header.packet.seqBytes },
    { byteOrder: 'little', routeBytes: 4, seqBytes: 1 },
  );
  assert.equal(entries.length, 3);
  const [a, b, c] = entries as [CaptureEntry, CaptureEntry, CaptureEntry];
  assert.deepEqual({ ...a, monoNs: 0 }, { ...entry(0), monoNs: 0 });
  assert.equal(b.kind, 'envelope');
  assert.equal(b.direction, 'out');
  assert.equal(b.subject, 'duet.node.n1.deliver');
  assert.deepEqual(b.data, big);
  assert.equal(c.uid, 2 ** 40 + 3);
  assert.equal(c.cid, 2 ** 33);
  assert.ok(a.monoNs <= b.monoNs && b.monoNs <= c.monoNs, 'monotonic timestamps never go back');
  assert.equal(w.stats.entries, 3);
  assert.equal(w.stats.dropped, 0);
});

test('capture file - rotation keeps every file under maxBytes and at most maxFiles files', async () => {
  const path = fresh();
  const w = await writeEntries(path, 2000, { maxBytes: 4096, maxFiles: 3 });
  const files = await listCaptureFiles(path);
  assert.deepEqual(files, [rotatedCaptureName(path, 2), rotatedCaptureName(path, 1), path]);
  assert.match(rotatedCaptureName(path, 2), /t\d+\.2\.capture$/);
  for (const f of files) assert.ok((await stat(f)).size <= 4096, `${f} is ${(await stat(f)).size} bytes`);
  assert.ok(w.stats.rotations > 2, `rotated ${w.stats.rotations} times`);
  // Each file reads on its own, and together they end with the newest entries in order.
  const tail: number[] = [];
  for (const f of files) for (const e of (await loadCapture(f)).entries) tail.push(e.tsMs - 1_700_000_000_000);
  assert.ok(tail.length > 100);
  assert.deepEqual(
    tail,
    Array.from({ length: tail.length }, (_, i) => 2000 - tail.length + i),
  );
});

test('capture file - opening an existing capture rotates it away instead of overwriting', async () => {
  const path = fresh();
  await writeEntries(path, 3);
  await writeEntries(path, 5, { maxFiles: 2 });
  assert.equal((await loadCapture(rotatedCaptureName(path, 1))).entries.length, 3);
  assert.equal((await loadCapture(path)).entries.length, 5);
});

test('capture file - a truncated last record is an error naming its offset', async () => {
  const path = fresh();
  await writeEntries(path, 10);
  const full = await readFile(path);
  // The offsets of the records, by walking the single-byte length prefixes (records are short here).
  const offsets: number[] = [];
  for (let o = 0; o < full.length; o += 1 + (full[o] as number)) offsets.push(o);
  assert.equal(offsets.length, 11, 'header + 10 entries, each with a one-byte prefix');
  const last = offsets[10] as number;
  await truncate(path, full.length - 3);
  await expectCorrupt(path, last, /truncated record: declares \d+ bytes but the file ends after \d+/);
  // Cut inside a two-byte length prefix: the file ends right after the continuation byte.
  const cut = fresh();
  await writeFile(cut, Buffer.concat([full.subarray(0, last), Buffer.from([0x96])]));
  await expectCorrupt(cut, last, /ends inside the length prefix/);
  // Entries before the damage were yielded before the error.
  const seen: number[] = [];
  const reader = await openCapture(path);
  await assert.rejects(async () => {
    for await (const e of reader) seen.push(e.cid);
  }, CaptureCorruptError);
  assert.equal(seen.length, 9);
});

test('capture file - a corrupt length prefix is an error naming its offset', async () => {
  const path = fresh();
  await writeEntries(path, 4);
  const full = await readFile(path);
  const second = 1 + (full[0] as number) + 1 + (full[1 + (full[0] as number)] as number);
  const tooLong = Buffer.from(full);
  tooLong.fill(0xff, second, second + 6); // six continuation bytes: no varint of a 32-bit length is that long
  await writeFile(path, tooLong);
  await expectCorrupt(path, second, /corrupt length prefix: more than 5 varint bytes/);
  const huge = fresh();
  // 0xff 0xff 0xff 0xff 0x0f = 2^32 - 1 bytes declared.
  await writeFile(huge, Buffer.concat([full.subarray(0, second), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]));
  await expectCorrupt(huge, second, /declares 4294967295 bytes, more than the \d+ a record may have/);
});

test('capture file - garbage inside a record and non-capture files are errors with offsets', async () => {
  const path = fresh();
  await writeEntries(path, 2);
  const full = await readFile(path);
  const second = 1 + (full[0] as number);
  const bad = Buffer.from(full);
  bad[second + 1] = 0xff; // field 31, wire type 7: not a protobuf tag
  await writeFile(path, bad);
  await expectCorrupt(path, second, /corrupt record \(/);
  const text = fresh();
  await writeFile(text, 'hello, this is not a capture\n');
  await expectCorrupt(text, 0, /corrupt|truncated/);
  const empty = fresh();
  await writeFile(empty, '');
  await expectCorrupt(empty, 0, /empty file/);
  await assert.rejects(loadCapture(join(dir, 'missing.capture')), { code: ErrorCode.CAPTURE_CORRUPT });
});

test('capture file - writes after close are dropped and counted, close twice is safe', async () => {
  const path = fresh();
  const w = await writeEntries(path, 2);
  w.write(entry(9));
  await w.close();
  assert.equal(w.stats.dropped, 1);
  assert.equal((await loadCapture(path)).entries.length, 2);
});

test('capture file - entries beyond the pending bound are dropped and counted, never queued', async () => {
  const path = fresh();
  const w = await CaptureWriter.open({ path, maxPendingBytes: 2048 });
  // One turn, no await: the disk cannot take any of it yet, so only what fits the bound is kept.
  for (let i = 0; i < 1000; i++) w.write(entry(i));
  await w.close();
  const kept = (await loadCapture(path)).entries.length;
  assert.ok(kept > 0 && kept < 1000, `${kept} kept`);
  assert.equal(w.stats.entries, kept);
  assert.equal(w.stats.dropped, 1000 - kept);
  await assert.rejects(CaptureWriter.open({ path: join(dir, 'no-such-dir', 'x.capture') }), { code: 'ENOENT' });
});
