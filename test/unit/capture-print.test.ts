import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCapture } from '../../src/cli/capture-command.js';

/** `duet capture print FILE`: one readable line per entry; a damaged file exits 2 naming the offset. */

const fixture = new URL('../fixtures/captures/kick-same-uid.capture', import.meta.url).pathname;

async function print(path: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCapture(['capture', 'print', path], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

test('capture print - a fixture prints its header and one line per packet', async () => {
  const r = await print(fixture);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.match(r.out[0] ?? '', /^# .*kick-same-uid\.capture: capture v1 from scripts\/make-captures\.ts kick-same-uid/);
  // header, 12 packets, 3 closes (the displaced connection's 4003 among them)
  assert.equal(r.out.length, 16);
  assert.match(
    r.out.find((l) => / close 4003 /.test(l)) ?? '',
    /out gate-1\/1 uid=0 close 4003 "uid bound again by cid 2"$/,
  );
  assert.match(
    r.out[4] ?? '',
    /\+[\d.]+ms out gate-1\/1 uid=2002 route 3 seq 2 body 11 bytes: 32 30 30 32 40 .* "2002@node-1"$/,
  );
});

test('capture print - a truncated file prints what it can, then exits 2 naming the offset', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'duet-print-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cut = join(dir, 'cut.capture');
  await copyFile(fixture, cut);
  await truncate(cut, (await stat(cut)).size - 5);
  const r = await print(cut);
  assert.equal(r.code, 2);
  assert.equal(r.out.length, 15, 'header and the 14 whole entries');
  assert.match(r.err.join('\n'), /truncated record: declares \d+ bytes but the file ends after \d+ at byte offset \d+/);
  assert.equal((await print(join(dir, 'none.capture'))).code, 2);
});
