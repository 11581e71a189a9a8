import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a resume token names (issue 11): the session on its gate, the user, an epoch and an expiry. */
export interface ResumeClaims {
  gid: string;
  cid: number;
  uid: number;
  epoch: number;
  /** ms since the epoch. */
  exp: number;
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** `payload.signature`, both base64url; HMAC-SHA256 with the configured secret. */
export function signResumeToken(claims: ResumeClaims, secret: string): string {
  const payload = b64(JSON.stringify({ g: claims.gid, c: claims.cid, u: claims.uid, e: claims.epoch, x: claims.exp }));
  return `${payload}.${b64(createHmac('sha256', secret).update(payload).digest())}`;
}

export type VerifyResult = { ok: true; claims: ResumeClaims } | { ok: false; error: string };

/** Checks the signature (constant time), the shape and the expiry. Never throws on client input. */
export function verifyResumeToken(token: unknown, secret: string, nowMs: number): VerifyResult {
  if (typeof token !== 'string' || token.length > 1024) return { ok: false, error: 'malformed token' };
  const dot = token.indexOf('.');
  if (dot <= 0) return { ok: false, error: 'malformed token' };
  const payload = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const want = createHmac('sha256', secret).update(payload).digest();
  if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, error: 'bad token signature' };
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, error: 'malformed token' };
  }
  const r = raw as Record<string, unknown>;
  const ints = [r.c, r.u, r.e, r.x].every((v) => typeof v === 'number' && Number.isSafeInteger(v));
  if (typeof r.g !== 'string' || !ints) return { ok: false, error: 'malformed token' };
  const claims: ResumeClaims = {
    gid: r.g,
    cid: r.c as number,
    uid: r.u as number,
    epoch: r.e as number,
    exp: r.x as number,
  };
  if (claims.exp <= nowMs) return { ok: false, error: 'token expired' };
  return { ok: true, claims };
}
