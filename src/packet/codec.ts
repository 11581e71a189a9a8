import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import { type PacketOptions, packetOptions, signedRange } from './options.js';

/** docs/protocol.md, Packet layout: 4-byte size, then header. */
export const SIZE_BYTES = 4;
export const HEADER_HEARTBEAT = 0x80;
export const HEADER_DATA = 0x00;
/** Size field of a server heartbeat carrying its i64 ns time: header + 8. */
const HEARTBEAT_TIME_SIZE = 9;

export interface DataPacket {
  readonly kind: 'data';
  readonly route: number;
  readonly seq: number;
  /** A view into the frame it was decoded from (zero-copy): copy it if you keep it past the frame's life. */
  readonly body: Uint8Array;
}
export interface HeartbeatPacket {
  readonly kind: 'heartbeat';
  /** Server time in ns since the epoch, present only in server heartbeats with `heartbeatTime`. */
  readonly timeNs: bigint | undefined;
}
export type Packet = DataPacket | HeartbeatPacket;
export type DecodeResult = { ok: true; packet: Packet } | { ok: false; error: ProtocolError };

export interface DataMessage {
  route: number;
  seq?: number;
  body?: Uint8Array;
}

/** Wall clock in ns since the Unix epoch; works in browsers and Node (no process.hrtime). */
export function wallClockNs(): bigint {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

/** due's field sizes are 1, 2 or 4 bytes: those are read directly (every frame reads a route and a seq twice). */
function readUint(b: Uint8Array, off: number, bytes: number, little: boolean): number {
  const b0 = b[off] as number;
  if (bytes === 1) return b0;
  const b1 = b[off + 1] as number;
  if (bytes === 2) return little ? b0 | (b1 << 8) : (b0 << 8) | b1;
  if (bytes === 4) {
    const b2 = b[off + 2] as number;
    const b3 = b[off + 3] as number;
    return little ? (b0 | (b1 << 8) | (b2 << 16)) + b3 * 0x1000000 : b0 * 0x1000000 + ((b1 << 16) | (b2 << 8) | b3);
  }
  let v = 0;
  if (little) for (let i = bytes - 1; i >= 0; i--) v = v * 256 + (b[off + i] as number);
  else for (let i = 0; i < bytes; i++) v = v * 256 + (b[off + i] as number);
  return v;
}

function readInt(b: Uint8Array, off: number, bytes: number, little: boolean): number {
  const u = readUint(b, off, bytes, little);
  if (bytes === 2) return (u << 16) >> 16;
  if (bytes === 4) return u | 0;
  if (bytes === 1) return (u << 24) >> 24;
  const half = 2 ** (bytes * 8 - 1);
  return u >= half ? u - half * 2 : u;
}

function writeUint(b: Uint8Array, off: number, bytes: number, little: boolean, value: number): void {
  let v = value < 0 ? value + 2 ** (bytes * 8) : value;
  for (let i = 0; i < bytes; i++) {
    const byte = v % 256;
    v = Math.floor(v / 256);
    b[little ? off + i : off + bytes - 1 - i] = byte;
  }
}

const LENIENT_HEARTBEAT = [0, 0, 0, 1, HEADER_HEARTBEAT];

/**
 * due's packet codec (docs/protocol.md). One instance per packet configuration; it holds no per-connection state.
 * decode() never throws on client bytes: it returns `{ok:false}` with a typed ProtocolError.
 */
export class PacketCodec {
  readonly options: Readonly<PacketOptions>;
  readonly #little: boolean;
  readonly #r: number;
  readonly #s: number;
  readonly #route: { min: number; max: number };
  readonly #seq: { min: number; max: number };
  /** Smallest valid data frame: size + header + route + seq. */
  readonly minDataFrame: number;
  /** Largest valid frame: ws maxPayload is tied to this. */
  readonly maxFrameBytes: number;

  constructor(options: Partial<PacketOptions> = {}) {
    this.options = Object.freeze(packetOptions(options));
    this.#little = this.options.byteOrder === 'little';
    this.#r = this.options.routeBytes;
    this.#s = this.options.seqBytes;
    this.#route = signedRange(this.#r);
    this.#seq = signedRange(this.#s);
    this.minDataFrame = SIZE_BYTES + 1 + this.#r + this.#s;
    // At least a time-stamped heartbeat, so a tiny bufferBytes with narrow fields still admits one.
    this.maxFrameBytes = Math.max(this.minDataFrame + this.options.bufferBytes, SIZE_BYTES + HEARTBEAT_TIME_SIZE);
  }

  /** Decodes one WebSocket frame holding exactly one packet. */
  decode(frame: Uint8Array): DecodeResult {
    const n = frame.length;
    if (n < SIZE_BYTES + 1) return fail(ErrorCode.PACKET_SHORT, `packet is ${n} bytes, at least 5 expected`);
    const header = frame[SIZE_BYTES] as number;
    if ((header & HEADER_HEARTBEAT) !== 0) {
      // docs/protocol.md, Liveness: a 5-byte 00 00 00 01 80 is a heartbeat in either byte order (due-client-ts quirk).
      if (n === 5 && this.#little && isLenientHeartbeat(frame))
        return { ok: true, packet: { kind: 'heartbeat', timeNs: undefined } };
    }
    const size = readUint(frame, 0, SIZE_BYTES, this.#little);
    if (size !== n - SIZE_BYTES) {
      return fail(ErrorCode.PACKET_SIZE_MISMATCH, `size field says ${size} bytes, frame carries ${n - SIZE_BYTES}`);
    }
    if ((header & HEADER_HEARTBEAT) !== 0) {
      // Size 9 is the only form with a time; other trailing bytes are ignored (due's unpacker ignores them too).
      const timeNs = size === HEARTBEAT_TIME_SIZE ? this.#readI64(frame, SIZE_BYTES + 1) : undefined;
      return { ok: true, packet: { kind: 'heartbeat', timeNs } };
    }
    if (n < this.minDataFrame) {
      return fail(ErrorCode.PACKET_SHORT, `data packet is ${n} bytes, at least ${this.minDataFrame} expected`);
    }
    const bodyBytes = n - this.minDataFrame;
    if (bodyBytes > this.options.bufferBytes) {
      return fail(
        ErrorCode.PACKET_TOO_LARGE,
        `body is ${bodyBytes} bytes, packet.bufferBytes allows ${this.options.bufferBytes}`,
        CloseCode.TOO_LARGE,
      );
    }
    const route = readInt(frame, SIZE_BYTES + 1, this.#r, this.#little);
    const seq = this.#s === 0 ? 0 : readInt(frame, SIZE_BYTES + 1 + this.#r, this.#s, this.#little);
    return { ok: true, packet: { kind: 'data', route, seq, body: frame.subarray(this.minDataFrame) } };
  }

  /**
   * Hot-path header read for a frame already known to be a valid data packet (see isData): the route only.
   * Returns undefined when the frame is not a well-formed data packet.
   */
  routeOf(frame: Uint8Array): number | undefined {
    if (frame.length < this.minDataFrame) return undefined;
    if (((frame[SIZE_BYTES] as number) & HEADER_HEARTBEAT) !== 0) return undefined;
    if (readUint(frame, 0, SIZE_BYTES, this.#little) !== frame.length - SIZE_BYTES) return undefined;
    if (frame.length - this.minDataFrame > this.options.bufferBytes) return undefined;
    return readInt(frame, SIZE_BYTES + 1, this.#r, this.#little);
  }

  /** The seq of a data packet built by this codec (0 for pushes, heartbeats and anything malformed). */
  seqOf(frame: Uint8Array): number {
    if (this.#s === 0 || frame.length < this.minDataFrame) return 0;
    if (((frame[SIZE_BYTES] as number) & HEADER_HEARTBEAT) !== 0) return 0;
    return readInt(frame, SIZE_BYTES + 1 + this.#r, this.#s, this.#little);
  }

  /** Encodes a data packet; throws ProtocolError on route/seq overflow or an oversized body. */
  encode(message: DataMessage): Uint8Array {
    const body = message.body ?? EMPTY;
    const seq = this.#s === 0 ? 0 : (message.seq ?? 0);
    const { route } = message;
    if (!Number.isInteger(route) || route < this.#route.min || route > this.#route.max) {
      throw new ProtocolError(
        ErrorCode.PACKET_ROUTE_OVERFLOW,
        `route must be an integer in [${this.#route.min}, ${this.#route.max}], got ${route}`,
      );
    }
    if (!Number.isInteger(seq) || seq < this.#seq.min || seq > this.#seq.max) {
      throw new ProtocolError(
        ErrorCode.PACKET_SEQ_OVERFLOW,
        `seq must be an integer in [${this.#seq.min}, ${this.#seq.max}], got ${seq}`,
      );
    }
    if (body.length > this.options.bufferBytes) {
      throw new ProtocolError(
        ErrorCode.PACKET_TOO_LARGE,
        `body is ${body.length} bytes, packet.bufferBytes allows ${this.options.bufferBytes}`,
        { closeCode: CloseCode.TOO_LARGE },
      );
    }
    const out = new Uint8Array(this.minDataFrame + body.length);
    writeUint(out, 0, SIZE_BYTES, this.#little, out.length - SIZE_BYTES);
    out[SIZE_BYTES] = HEADER_DATA;
    writeUint(out, SIZE_BYTES + 1, this.#r, this.#little, route);
    if (this.#s > 0) writeUint(out, SIZE_BYTES + 1 + this.#r, this.#s, this.#little, seq);
    out.set(body, this.minDataFrame);
    return out;
  }

  /** A heartbeat; with `timeNs` the 13-byte server form carrying i64 ns (docs/protocol.md, Heartbeats). */
  encodeHeartbeat(timeNs?: bigint): Uint8Array {
    const out = new Uint8Array(timeNs === undefined ? 5 : 13);
    writeUint(out, 0, SIZE_BYTES, this.#little, out.length - SIZE_BYTES);
    out[SIZE_BYTES] = HEADER_HEARTBEAT;
    if (timeNs !== undefined) {
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      view.setBigInt64(SIZE_BYTES + 1, BigInt.asIntN(64, timeNs), this.#little);
    }
    return out;
  }

  /** The server heartbeat this configuration sends (with the time when packet.heartbeatTime is on). */
  serverHeartbeat(): Uint8Array {
    return this.encodeHeartbeat(this.options.heartbeatTime ? wallClockNs() : undefined);
  }

  #readI64(frame: Uint8Array, off: number): bigint {
    return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigInt64(off, this.#little);
  }
}

const EMPTY = new Uint8Array(0);

function isLenientHeartbeat(frame: Uint8Array): boolean {
  for (let i = 0; i < 5; i++) if (frame[i] !== LENIENT_HEARTBEAT[i]) return false;
  return true;
}

function fail(code: ErrorCode, message: string, closeCode?: CloseCode): DecodeResult {
  return { ok: false, error: new ProtocolError(code, message, closeCode === undefined ? undefined : { closeCode }) };
}
