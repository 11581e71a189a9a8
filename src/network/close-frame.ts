/**
 * Close frames (docs/protocol.md, Errors): which codes ws can send, the reason cut to RFC 6455's limit, and the code
 * ws gave a receiver error.
 */

/** ws reports 1006 when no close frame was exchanged. */
const ABNORMAL_CLOSURE = 1006;

/**
 * The close code ws sent for a receiver error (oversized frame → 1009, bad fragments → 1008…), or 1006 for a
 * socket-level error that carries none. ws keeps the code under a private symbol (lib/constants.js kStatusCode);
 * read it by description rather than guess from the message.
 */
export function closeCodeOfWsError(err: Error): number {
  for (const key of Object.getOwnPropertySymbols(err)) {
    if (key.description !== 'status-code') continue;
    const value: unknown = (err as unknown as Record<symbol, unknown>)[key];
    if (typeof value === 'number') return value;
  }
  // no code: a write-side failure, not the peer breaking the protocol; no close frame was exchanged
  return ABNORMAL_CLOSURE;
}

/** The codes ws lets an endpoint send (ws lib/validation.js isValidStatusCode). */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}

/** Cuts at a character boundary so the close frame stays within RFC 6455's limit. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}
