import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { ValueCodec } from './bus.js';
import { type GateOpBody, type GateOps, GateOpsCodec } from './envelope.js';

/**
 * Signed control operations (`bus.opsSecret`): with a secret shared by every gate and node, an envelope holding a
 * bind, unbind or disconnect carries an HMAC-SHA256 over its bytes and the time it was signed, so a client allowed
 * on the subject still cannot forge one. Envelopes of pushes, channel and query ops stay unsigned: they are the hot
 * path, and subject permissions (config/nats-secure.conf) guard them.
 *
 * Wire form: the envelope with `signed_at` set, then field 5 (`sig`, 32 bytes) appended last, so the signed bytes
 * are exactly what precedes the signature (no re-encoding to check it).
 */

export const OPS_SECRET_MIN_BYTES = 32;
/** A signature older or newer than this is refused (bounds replays; clocks of one cluster agree far better). */
export const DEFAULT_MAX_SKEW_MS = 60_000;
const SIG_TAG = (5 << 3) | 2;
const SIG_BYTES = 32;

/** The operations that change who a session is or end it. */
export function isControl(op: GateOpBody): boolean {
  return op.bind != null || op.unbind != null || op.disconnect != null;
}

export class OpSigner {
  readonly #key: Buffer;
  readonly #maxSkewMs: number;

  constructor(secret: string, maxSkewMs = DEFAULT_MAX_SKEW_MS) {
    if (Buffer.byteLength(secret) < OPS_SECRET_MIN_BYTES) {
      throw new ConfigError(
        'bus.opsSecret',
        '***',
        `bus.opsSecret must be at least ${OPS_SECRET_MIN_BYTES} bytes (or empty for unsigned operations)`,
      );
    }
    this.#key = Buffer.from(secret);
    this.#maxSkewMs = maxSkewMs;
  }

  /** The envelope codec of a signing publisher (Bus.publishValue): encodes signed, decodes as usual. */
  readonly codec: ValueCodec<GateOps> = {
    encode: (batch) => this.encode(batch),
    decode: (bytes) => GateOpsCodec.decode(bytes),
  };

  /** Encodes `batch`, signed when it holds a control op. */
  encode(batch: GateOps, now = Date.now()): Uint8Array {
    if (!batch.ops.some(isControl)) return GateOpsCodec.encode(batch);
    const body = GateOpsCodec.encode({ ...batch, signedAt: now });
    const out = new Uint8Array(body.length + 2 + SIG_BYTES);
    out.set(body);
    out[body.length] = SIG_TAG;
    out[body.length + 1] = SIG_BYTES;
    out.set(this.#mac(body), body.length + 2);
    return out;
  }

  /** True when `batch` (decoded from `data`) may run: no control op, or a valid signature within the skew. */
  verify(data: Uint8Array, batch: GateOps, now = Date.now()): boolean {
    if (!batch.ops.some(isControl)) return true;
    const n = data.length - 2 - SIG_BYTES;
    if (n < 0 || data[n] !== SIG_TAG || data[n + 1] !== SIG_BYTES) return false;
    if (!timingSafeEqual(this.#mac(data.subarray(0, n)), data.subarray(n + 2))) return false;
    return Math.abs(now - (batch.signedAt ?? 0)) <= this.#maxSkewMs;
  }

  #mac(bytes: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(bytes).digest();
  }
}
