import { DuetError, ErrorCode } from '../../errors.js';

/**
 * The bytes of one service call on the bus. A request carries the time left before the caller gives up (ms, relative
 * so clock skew between hosts does not matter), so the callee can stop work nobody waits for, the caller's node id and a call id (for cancellation), then the body as
 * the caller's codec wrote it. A reply is a status byte, then either the body or the callee's error code and message.
 *
 *   request  = u8 version(1) | f64 budgetMs | u16 len | caller | u16 len | callId | body
 *   reply    = u8 0 | u16 len | answering node id | body        (ok)
 *            | u8 1 | u16 len | code | u16 len | message         (the method threw)
 */
export interface CallRequest {
  budgetMs: number;
  caller: string;
  callId: string;
  body: Uint8Array;
}

export type CallReply = { ok: true; from: string; body: Uint8Array } | { ok: false; code: string; message: string };

const VERSION = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();
/** Error messages are cut so a reply stays small; codes are short by nature. */
const MAX_TEXT = 1024;

function text(s: string): Uint8Array {
  const b = enc.encode(s);
  return b.length > MAX_TEXT ? b.subarray(0, MAX_TEXT) : b;
}

function bad(what: string): DuetError {
  return new DuetError(ErrorCode.ENVELOPE_DECODE, `service ${what} is truncated or of an unknown version`);
}

export function encodeRequest(r: CallRequest): Uint8Array {
  const caller = text(r.caller);
  const id = text(r.callId);
  const out = new Uint8Array(1 + 8 + 2 + caller.length + 2 + id.length + r.body.length);
  const v = new DataView(out.buffer);
  out[0] = VERSION;
  v.setFloat64(1, r.budgetMs);
  let o = 9;
  v.setUint16(o, caller.length);
  out.set(caller, o + 2);
  o += 2 + caller.length;
  v.setUint16(o, id.length);
  out.set(id, o + 2);
  o += 2 + id.length;
  out.set(r.body, o);
  return out;
}

export function decodeRequest(b: Uint8Array): CallRequest {
  if (b.length < 13 || b[0] !== VERSION) throw bad('request');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const budgetMs = v.getFloat64(1);
  let o = 9;
  const cl = v.getUint16(o);
  if (o + 2 + cl + 2 > b.length) throw bad('request');
  const caller = dec.decode(b.subarray(o + 2, o + 2 + cl));
  o += 2 + cl;
  const il = v.getUint16(o);
  if (o + 2 + il > b.length) throw bad('request');
  const callId = dec.decode(b.subarray(o + 2, o + 2 + il));
  o += 2 + il;
  return { budgetMs, caller, callId, body: b.subarray(o) };
}

export function encodeReply(r: CallReply): Uint8Array {
  if (r.ok) {
    const from = text(r.from);
    const out = new Uint8Array(3 + from.length + r.body.length);
    new DataView(out.buffer).setUint16(1, from.length);
    out.set(from, 3);
    out.set(r.body, 3 + from.length);
    return out;
  }
  const code = text(r.code);
  const msg = text(r.message);
  const out = new Uint8Array(1 + 2 + code.length + 2 + msg.length);
  const v = new DataView(out.buffer);
  out[0] = 1;
  v.setUint16(1, code.length);
  out.set(code, 3);
  v.setUint16(3 + code.length, msg.length);
  out.set(msg, 5 + code.length);
  return out;
}

export function decodeReply(b: Uint8Array): CallReply {
  if (b.length < 1) throw bad('reply');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[0] === 0) {
    if (b.length < 3) throw bad('reply');
    const fl = v.getUint16(1);
    if (3 + fl > b.length) throw bad('reply');
    return { ok: true, from: dec.decode(b.subarray(3, 3 + fl)), body: b.subarray(3 + fl) };
  }
  if (b[0] !== 1 || b.length < 5) throw bad('reply');
  const cl = v.getUint16(1);
  if (3 + cl + 2 > b.length) throw bad('reply');
  const code = dec.decode(b.subarray(3, 3 + cl));
  const ml = v.getUint16(3 + cl);
  if (5 + cl + ml > b.length) throw bad('reply');
  return { ok: false, code, message: dec.decode(b.subarray(5 + cl, 5 + cl + ml)) };
}

/** The code a thrown value reports to the caller: a duet or service error's own code, else DUET_ERR_INTERNAL. */
export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length > 0 ? code : ErrorCode.INTERNAL;
}
