import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BOARD } from '../../src/demo/demo-messages.js';
import { checkChat, checkName, checkRoom, uidForName } from '../../src/demo/game-input.js';
import { ROOM_LIMITS, Rooms } from '../../src/demo/rooms.js';

const s1 = { gid: 'g1', cid: 1 };
const s2 = { gid: 'g1', cid: 2 };

test('demo rooms - a user is in one room at a time; rooms vanish when empty', () => {
  const rooms = new Rooms();
  const a = rooms.join(1, 'a', s1, 'red');
  assert.ok(a.ok);
  assert.equal(a.left, undefined);
  const moved = rooms.join(1, 'a', s1, 'blue');
  assert.ok(moved.ok);
  assert.equal(moved.left, 'red');
  assert.deepEqual(rooms.names(), ['blue']);
  assert.equal(rooms.leave(1)?.room, 'blue');
  assert.equal(rooms.size, 0);
  assert.equal(rooms.playerCount, 0);
  assert.equal(rooms.leave(1), undefined);
});

test('demo rooms - rejoining the same room keeps the position and takes the new session', () => {
  const rooms = new Rooms();
  rooms.join(1, 'a', s1, 'red');
  assert.ok(rooms.move(1, 10, 20));
  const again = rooms.join(1, 'a', s2, 'red');
  assert.ok(again.ok);
  assert.deepEqual([again.member.x, again.member.y, again.member.cid], [10, 20, 2]);
  // The old session no longer owns the membership.
  assert.equal(rooms.leaveSession(1, s1), undefined);
  assert.equal(rooms.leaveSession(1, s2)?.uid, 1);
});

test('demo rooms - moves are clamped to the board and rounded; non-finite values become 0', () => {
  const rooms = new Rooms();
  rooms.join(1, 'a', s1, 'red');
  rooms.move(1, -5, BOARD.HEIGHT + 100);
  assert.deepEqual(
    rooms.members('red').map((m) => [m.x, m.y]),
    [[0, BOARD.HEIGHT]],
  );
  rooms.move(1, 12.6, Number.NaN);
  assert.deepEqual(
    rooms.members('red').map((m) => [m.x, m.y]),
    [[13, 0]],
  );
  assert.equal(rooms.move(2, 1, 1), false, 'a user in no room cannot move');
});

test('demo rooms - room size and room count are bounded', () => {
  const rooms = new Rooms();
  for (let uid = 1; uid <= ROOM_LIMITS.MAX_PLAYERS_PER_ROOM; uid++) assert.ok(rooms.join(uid, `p${uid}`, s1, 'big').ok);
  const full = rooms.join(10_000, 'late', s1, 'big');
  assert.equal(full.ok, false);
  assert.match(full.ok ? '' : full.error, /full/);
  const many = new Rooms();
  for (let i = 0; i < ROOM_LIMITS.MAX_ROOMS; i++) assert.ok(many.join(i + 1, 'p', s1, `r${i}`).ok);
  const over = many.join(999_999, 'p', s1, 'one-more');
  assert.equal(over.ok, false);
  assert.ok(many.join(999_999, 'p', s1, 'r0').ok, 'an existing room can still be joined');
});

test('demo input - names, rooms and chat text are trimmed, bounded and stripped of control characters', () => {
  assert.deepEqual(checkName('  ann\u0007 '), { ok: true, value: 'ann' });
  assert.equal(checkName('\u200b').ok, false);
  assert.equal(checkName('é'.repeat(20)).ok, true, 'limits count characters, not bytes');
  assert.equal(checkRoom('lobby 2_b.c-d').ok, true);
  assert.equal(checkRoom('<script>').ok, false);
  assert.deepEqual(checkChat('a\nb'), { ok: true, value: 'a b' });
  assert.equal(uidForName('alice'), uidForName('alice'));
  assert.notEqual(uidForName('alice'), uidForName('Alice'));
  for (const n of ['', 'a', 'alice', 'x'.repeat(20)]) {
    const uid = uidForName(n);
    assert.ok(Number.isSafeInteger(uid) && uid > 0 && uid <= 2 ** 32, `uid of ${JSON.stringify(n)}: ${uid}`);
  }
});
