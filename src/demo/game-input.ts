/**
 * Validation of what players type. Client bytes are untrusted: every field is checked here, and a bad one becomes a
 * readable `error` in the reply instead of a thrown handler.
 */

export type Checked = { ok: true; value: string } | { ok: false; error: string };

export const INPUT_LIMITS = { NAME_CHARS: 20, ROOM_CHARS: 32, CHAT_CHARS: 280 } as const;

const CONTROL = /\p{Cc}|\p{Cf}/gu;
const ROOM_NAME = /^[\p{L}\p{N} _.-]+$/u;

function chars(s: string): number {
  return [...s].length;
}

export function checkName(raw: string): Checked {
  const value = raw.replace(CONTROL, '').trim();
  if (value === '') return { ok: false, error: 'name must not be empty' };
  if (chars(value) > INPUT_LIMITS.NAME_CHARS)
    return { ok: false, error: `name must be at most ${INPUT_LIMITS.NAME_CHARS} characters` };
  return { ok: true, value };
}

export function checkRoom(raw: string): Checked {
  const value = raw.trim();
  if (value === '') return { ok: false, error: 'room name must not be empty' };
  if (chars(value) > INPUT_LIMITS.ROOM_CHARS)
    return { ok: false, error: `room name must be at most ${INPUT_LIMITS.ROOM_CHARS} characters` };
  if (!ROOM_NAME.test(value))
    return { ok: false, error: 'room name may hold letters, digits, spaces, "_", "." and "-" only' };
  return { ok: true, value };
}

export function checkChat(raw: string): Checked {
  const value = raw.replace(CONTROL, ' ').trim();
  if (value === '') return { ok: false, error: 'chat text must not be empty' };
  if (chars(value) > INPUT_LIMITS.CHAT_CHARS)
    return { ok: false, error: `chat text must be at most ${INPUT_LIMITS.CHAT_CHARS} characters` };
  return { ok: true, value };
}

/**
 * The uid of a player name: FNV-1a (32 bit) of its UTF-8 bytes, plus one so it is never 0 (0 means unbound). A name
 * is an identity: logging in again with the same name displaces the older session (due#90 behaviour), on any node,
 * with no shared counter between nodes.
 */
export function uidForName(name: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(name)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h + 1;
}
