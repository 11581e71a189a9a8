import { DuetError, ErrorCode } from '../errors.js';
import type { Uid } from './locator.js';

/** docs/protocol.md, Ids: uids are carried as safe integers; anything else is refused with a clear error. */
export function checkUid(uid: unknown, what = 'uid'): Uid {
  if (typeof uid !== 'number' || !Number.isSafeInteger(uid)) {
    throw new DuetError(ErrorCode.UID_INVALID, `${what} must be a safe integer (|uid| < 2^53), got ${String(uid)}`);
  }
  return uid;
}

/** Parses a uid from decimal text (login bodies, Redis events); undefined when it is not a safe integer. */
export function parseUid(text: string): Uid | undefined {
  if (!/^-?\d{1,16}$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}
