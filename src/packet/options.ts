import { ErrorCode, ProtocolError } from '../errors.js';

export type ByteOrder = 'big' | 'little';
export type RouteBytes = 1 | 2 | 4;
export type SeqBytes = 0 | 1 | 2 | 4;

/** The `[packet]` section (docs/protocol.md, Packet layout). Client, gate and node must agree on all of it. */
export interface PacketOptions {
  byteOrder: ByteOrder;
  routeBytes: RouteBytes;
  seqBytes: SeqBytes;
  /** Largest body allowed, in bytes (not the whole packet). */
  bufferBytes: number;
  /** Append the server's wall clock (i64 ns) to server heartbeats. */
  heartbeatTime: boolean;
}

export const DEFAULT_PACKET_OPTIONS: Readonly<PacketOptions> = Object.freeze({
  byteOrder: 'big',
  routeBytes: 2,
  seqBytes: 2,
  bufferBytes: 5000,
  heartbeatTime: false,
});

/** The size field is a u32 counting 1 + R + S + body, so the body can never exceed this whatever the widths. */
export const MAX_BUFFER_BYTES = 0xffff_ffff - 1 - 4 - 4;

/**
 * Fills defaults and validates; throws a ProtocolError naming the field, the rule and the value.
 * A field given as `undefined` takes its default (Partial allows it), and unknown fields are not copied.
 */
export function packetOptions(input: Partial<PacketOptions> = {}): PacketOptions {
  const d = DEFAULT_PACKET_OPTIONS;
  const o: PacketOptions = {
    byteOrder: input.byteOrder ?? d.byteOrder,
    routeBytes: input.routeBytes ?? d.routeBytes,
    seqBytes: input.seqBytes ?? d.seqBytes,
    bufferBytes: input.bufferBytes ?? d.bufferBytes,
    heartbeatTime: input.heartbeatTime ?? d.heartbeatTime,
  };
  const bad = (field: string, rule: string, value: unknown): never => {
    throw new ProtocolError(ErrorCode.PACKET_OPTIONS, `packet.${field} must be ${rule}, got ${String(value)}`);
  };
  if (o.byteOrder !== 'big' && o.byteOrder !== 'little') bad('byteOrder', '"big" or "little"', o.byteOrder);
  if (![1, 2, 4].includes(o.routeBytes)) bad('routeBytes', '1, 2 or 4', o.routeBytes);
  if (![0, 1, 2, 4].includes(o.seqBytes)) bad('seqBytes', '0, 1, 2 or 4', o.seqBytes);
  if (!Number.isSafeInteger(o.bufferBytes) || o.bufferBytes < 0 || o.bufferBytes > MAX_BUFFER_BYTES)
    bad('bufferBytes', `an integer in [0, ${MAX_BUFFER_BYTES}]`, o.bufferBytes);
  if (typeof o.heartbeatTime !== 'boolean') bad('heartbeatTime', 'a boolean', o.heartbeatTime);
  return o;
}

/** Signed range of a width in bytes: the wire carries route and seq as signed integers. */
export function signedRange(bytes: number): { min: number; max: number } {
  if (bytes === 0) return { min: 0, max: 0 };
  const half = 2 ** (bytes * 8 - 1);
  return { min: -half, max: half - 1 };
}
