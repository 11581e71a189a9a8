import { DuetError, ErrorCode } from '../../errors.js';

/**
 * The bytes of one actor message between nodes (`{prefix}.actor.{nid}`): the caller's remaining time (ms), the
 * target's kind and id, the method, the caller's node id, then the body. A reply is ok + body, error + code +
 * message, or moved + the owner the callee knows of ("" = ask the locator again).
 *
 *   request = u8 1 | f64 budgetMs | str kind | str id | str method | str caller | body      (str = u16 len | utf8)
 *   reply   = u8 0 | body  |  u8 1 | str code | str message  |  u8 2 | str owner
 */
export interface ActorRequest {
  budgetMs: number;
  kind: string;
  id: string;
  method: string;
  caller: string;
  body: Uint8Array;
}

export type ActorReply =
  | { type: 'ok'; body: Uint8Array }
  | { type: 'error'; code: string; message: string }
  | { type: 'moved'; owner: string };

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_TEXT = 1024;

function bad(): DuetError {
  return new DuetError(ErrorCode.ENVELOPE_DECODE, 'actor message is truncated or of an unknown version');
}

function pack(head: Uint8Array, strs: string[], body: Uint8Array): Uint8Array {
  const parts = strs.map((s) => {
    const b = enc.encode(s);
    return b.length > MAX_TEXT ? b.subarray(0, MAX_TEXT) : b;
  });
  const size = head.length + parts.reduce((n, p) => n + 2 + p.length, 0) + body.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out.set(head, 0);
  let o = head.length;
  for (const p of parts) {
    v.setUint16(o, p.length);
    out.set(p, o + 2);
    o += 2 + p.length;
  }
  out.set(body, o);
  return out;
}

/** Reads `n` strings from `o`; returns them and the offset after them. */
function unpack(b: Uint8Array, o: number, n: number): { strs: string[]; end: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const strs: string[] = [];
  for (let i = 0; i < n; i++) {
    if (o + 2 > b.length) throw bad();
    const len = v.getUint16(o);
    if (o + 2 + len > b.length) throw bad();
    strs.push(dec.decode(b.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  return { strs, end: o };
}

export function encodeActorRequest(r: ActorRequest): Uint8Array {
  const head = new Uint8Array(9);
  head[0] = 1;
  new DataView(head.buffer).setFloat64(1, r.budgetMs);
  return pack(head, [r.kind, r.id, r.method, r.caller], r.body);
}

export function decodeActorRequest(b: Uint8Array): ActorRequest {
  if (b.length < 9 || b[0] !== 1) throw bad();
  const budgetMs = new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(1);
  const { strs, end } = unpack(b, 9, 4);
  const [kind, id, method, caller] = strs as [string, string, string, string];
  return { budgetMs, kind, id, method, caller, body: b.subarray(end) };
}

export function encodeActorReply(r: ActorReply): Uint8Array {
  if (r.type === 'ok') return pack(Uint8Array.of(0), [], r.body);
  if (r.type === 'error') return pack(Uint8Array.of(1), [r.code, r.message], new Uint8Array(0));
  return pack(Uint8Array.of(2), [r.owner], new Uint8Array(0));
}

export function decodeActorReply(b: Uint8Array): ActorReply {
  if (b.length < 1) throw bad();
  if (b[0] === 0) return { type: 'ok', body: b.subarray(1) };
  if (b[0] === 1) {
    const [code, message] = unpack(b, 1, 2).strs as [string, string];
    return { type: 'error', code, message };
  }
  if (b[0] === 2) return { type: 'moved', owner: unpack(b, 1, 1).strs[0] as string };
  throw bad();
}
