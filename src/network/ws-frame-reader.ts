/**
 * The receive fast path for upgraded WebSockets (issue 15). ws parses frames in a Writable stream (write, _write,
 * startLoop, getInfo, getData, concat, an emitted 'message' per frame): about 3.3 µs per round trip more than the
 * same gate over TCP. The reader takes ws's socket 'data' listener over and parses frames itself. A complete, masked,
 * unfragmented binary frame within maxPayload is unmasked in place and handed to the connection; every other frame
 * (ping, pong, fragments, their interleaved control frames) goes to ws's own listener as whole-frame bytes, so ws's
 * receiver always sees a stream that starts at a frame boundary and keeps auto-pong, message assembly and backpressure
 * (its listener pauses the socket when its receiver is full) exactly as before.
 *
 * Anything ws would refuse (RSV bits, no mask, unknown opcode, bad control frame, oversized, too many fragments) and
 * every close or text frame hands the rest of the stream to ws for good: ws's listener is put back on the socket, so
 * ws raises its own error with its own close code, and when it stops reading (close frame, receiver error) it removes
 * its own listener as it always has. Text goes too because ws checks its UTF-8 after the frame (an error the reader
 * could not mirror without unmasking a copy); due clients never send text (docs/protocol.md, Transport).
 *
 * Memory per idle connection: one reader object, a symbol tag on the socket and one static listener; the partial
 * frame buffer exists only while a frame is split across chunks.
 */
import type { Duplex } from 'node:stream';

/** The socket 'data' listener ws registers on upgrade (its socketOnData). */
export type DataListener = (this: Duplex, chunk: Buffer) => void;

/** Where fast-path frames go: WsConnection applies the same checks as for frames ws delivers. */
export interface FrameSink {
  receiveBinary(bytes: Uint8Array): void;
}

/** One per transport: the receive limits ws was configured with (the reader refuses nothing ws would accept). */
export interface FrameLimits {
  maxPayload: number;
  maxFragments: number;
  /** Counted by the transport (stats.handedToWs). */
  onHandOver: () => void;
}

const kReader = Symbol('duet.frameReader');
type ReaderSocket = Duplex & { [kReader]?: WsFrameReader };

const OP_CONTINUATION = 0x0;
const OP_BINARY = 0x2;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** RFC 6455 5.5: a control frame payload is at most 125 bytes. */
const MAX_CONTROL_PAYLOAD = 125;
/** The longest frame header: 2 bytes, 8 of extended length, 4 of mask. */
const MAX_HEADER = 14;
/** Below this an unrolled byte loop beats allocating an Int32Array view per frame (a due packet is mostly smaller). */
const WORD_UNMASK_MIN = 128;
const IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** What the reader does with one frame. */
const FAST = 0;
const FORWARD = 1;
const HAND_OVER = 2;
type Action = typeof FAST | typeof FORWARD | typeof HAND_OVER;

/** parseHeader's results, module scratch rather than an object per frame (single-threaded, read right after). */
let headerLength = 0;
let payloadLength = 0;

/**
 * Reads the header at buf[pos..end). Returns false when more bytes are needed; otherwise sets headerLength and
 * payloadLength (payloadLength is -1 for a length of 2^32 or more: no limit here allows it).
 */
function parseHeader(buf: Uint8Array, pos: number, end: number): boolean {
  if (end - pos < 2) return false;
  const b1 = buf[pos + 1] as number;
  const len7 = b1 & 0x7f;
  const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const length = 2 + extra + (b1 & 0x80 ? 4 : 0);
  if (end - pos < length) return false;
  headerLength = length;
  if (extra === 0) payloadLength = len7;
  else if (extra === 2) payloadLength = ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number);
  else {
    const high = readUint32(buf, pos + 2);
    payloadLength = high === 0 ? readUint32(buf, pos + 6) : -1;
  }
  return true;
}

function readUint32(buf: Uint8Array, at: number): number {
  return (
    (buf[at] as number) * 0x1000000 +
    (((buf[at + 1] as number) << 16) | ((buf[at + 2] as number) << 8) | (buf[at + 3] as number))
  );
}

/**
 * XORs buf[start..end) with the 4-byte mask at buf[maskAt..maskAt+4), in place. Larger payloads go a word at a
 * time once the address is 4-byte aligned (an Int32Array view needs alignment; the mask is rotated to match).
 */
export function unmaskInPlace(buf: Uint8Array, start: number, end: number, mask: Uint8Array, maskAt: number): void {
  const m0 = mask[maskAt] as number;
  const m1 = mask[maskAt + 1] as number;
  const m2 = mask[maskAt + 2] as number;
  const m3 = mask[maskAt + 3] as number;
  if ((m0 | m1 | m2 | m3) === 0) return;
  let i = start;
  if (end - start >= WORD_UNMASK_MIN) {
    while (((buf.byteOffset + i) & 3) !== 0) {
      buf[i] = (buf[i] as number) ^ maskByte(i - start, m0, m1, m2, m3);
      i++;
    }
    const words = (end - i) >>> 2;
    const k = (i - start) & 3;
    const a = maskByte(k, m0, m1, m2, m3);
    const b = maskByte(k + 1, m0, m1, m2, m3);
    const c = maskByte(k + 2, m0, m1, m2, m3);
    const d = maskByte(k + 3, m0, m1, m2, m3);
    const word = IS_LITTLE_ENDIAN ? a | (b << 8) | (c << 16) | (d << 24) : (a << 24) | (b << 16) | (c << 8) | d;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] = (view[w] as number) ^ word;
    i += words * 4;
  }
  // small payloads: four bytes a turn from the start (after the word loop fewer than four bytes are left)
  if (((i - start) & 3) === 0) {
    for (const end4 = end - 3; i < end4; i += 4) {
      buf[i] = (buf[i] as number) ^ m0;
      buf[i + 1] = (buf[i + 1] as number) ^ m1;
      buf[i + 2] = (buf[i + 2] as number) ^ m2;
      buf[i + 3] = (buf[i + 3] as number) ^ m3;
    }
  }
  for (; i < end; i++) buf[i] = (buf[i] as number) ^ maskByte(i - start, m0, m1, m2, m3);
}

function maskByte(index: number, m0: number, m1: number, m2: number, m3: number): number {
  switch (index & 3) {
    case 0:
      return m0;
    case 1:
      return m1;
    case 2:
      return m2;
    default:
      return m3;
  }
}

export class WsFrameReader {
  readonly #socket: Duplex;
  readonly #sink: FrameSink;
  readonly #limits: FrameLimits;
  readonly #wsOnData: DataListener;
  /** A frame split across chunks: its header bytes only (#partialSize 0), or a buffer of the whole frame's size. */
  #partial: Buffer | undefined;
  #partialFill = 0;
  #partialSize = 0;
  /** Data frames and payload bytes of the fragmented message ws is assembling (0: none in progress). */
  #fragments = 0;
  #fragmentBytes = 0;
  /** Handed over to ws, or stopped after a ws error: the reader reads nothing more. */
  #isDone = false;

  private constructor(socket: Duplex, sink: FrameSink, limits: FrameLimits, wsOnData: DataListener) {
    this.#socket = socket;
    this.#sink = sink;
    this.#limits = limits;
    this.#wsOnData = wsOnData;
  }

  /**
   * Replaces ws's 'data' listener (the upgrade added `added`, found by listener counts as in peer-end.ts). Returns
   * false and changes nothing unless exactly one was added: another ws release keeps its own receive path.
   */
  static takeOver(socket: Duplex, added: readonly DataListener[], sink: FrameSink, limits: FrameLimits): boolean {
    const [wsOnData] = added;
    if (added.length !== 1 || wsOnData === undefined) return false;
    (socket as ReaderSocket)[kReader] = new WsFrameReader(socket, sink, limits, wsOnData);
    socket.off('data', wsOnData);
    socket.on('data', WsFrameReader.#onData);
    return true;
  }

  /** The 'data' listeners an upgrade added, by count as in peer-end.ts (survives renamed or minified ws builds). */
  static addedSince(socket: Duplex, countBefore: number): DataListener[] {
    return socket.listeners('data').slice(countBefore) as DataListener[];
  }

  /**
   * ws emitted an error: on a receiver error it has removed its own data listener and resumes the socket so the
   * rest is drained unread (receiverOnError); feeding its errored receiver would only pause the socket again. The
   * connection is closing under its deadline either way, so the reader drops what still arrives.
   */
  static stop(socket: Duplex): void {
    const reader = (socket as ReaderSocket)[kReader];
    if (reader === undefined) return;
    reader.#isDone = true;
    reader.#partial = undefined;
  }

  static #onData(this: Duplex, chunk: Buffer): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls listeners with `this` = the socket, not the class
    const reader = (this as ReaderSocket)[kReader];
    if (reader !== undefined && !reader.#isDone) reader.#read(chunk);
  }

  #read(chunk: Buffer): void {
    let pos = 0;
    if (this.#partial !== undefined) pos = this.#resume(chunk);
    if (pos >= 0) pos = this.#frames(chunk, pos);
    if (pos >= 0 && pos < chunk.length) this.#keepPartial(chunk, pos);
    // ws's close path reads a paused socket's buffer straight into its receiver (socketOnClose), which must then
    // continue at a frame boundary: while ws's backpressure holds the socket, a split frame is ws's to finish. (ws
    // 8.23 parses synchronously, so its listener pauses only if its receiver ever buffers; one call per split frame.)
    const partial = this.#partial;
    if (partial !== undefined && this.#socket.isPaused()) this.#handOver(partial.subarray(0, this.#partialFill));
  }

  /** Whole frames from chunk[pos..]; returns where a split frame starts (chunk.length if none), -1 once done. */
  #frames(chunk: Buffer, start: number): number {
    let pos = start;
    const end = chunk.length;
    while (pos < end) {
      if (!parseHeader(chunk, pos, end)) return this.#refuseEarly(chunk.subarray(pos)) ? -1 : pos;
      const action = this.#classify(chunk[pos] as number, chunk[pos + 1] as number);
      if (action === HAND_OVER) {
        this.#handOver(chunk.subarray(pos));
        return -1;
      }
      const frameEnd = pos + headerLength + payloadLength;
      if (frameEnd > end) return pos;
      this.#frame(chunk, pos, headerLength, frameEnd, action);
      // a handler may have ended the connection; ws may have been handed the stream
      if (this.#isDone) return -1;
      pos = frameEnd;
    }
    return pos;
  }

  /**
   * Two bytes of a split header already show whether the frame is ws's (RSV, mask, opcode): hand it over at once
   * rather than wait for bytes a peer breaking the protocol may never send. `head` holds fewer bytes than its header.
   */
  #refuseEarly(head: Buffer): boolean {
    if (head.length < 2) return false;
    payloadLength = 0;
    if (this.#classify(head[0] as number, head[1] as number) !== HAND_OVER) return false;
    this.#handOver(head);
    return true;
  }

  /** Decides from the first two header bytes and payloadLength (0 while the header is incomplete). */
  #classify(b0: number, b1: number): Action {
    // RSV bits (no extension is negotiated), an unmasked client frame: ws closes 1002
    if ((b0 & 0x70) !== 0 || (b1 & 0x80) === 0) return HAND_OVER;
    const opcode = b0 & 0x0f;
    const isFin = (b0 & 0x80) !== 0;
    if (opcode === OP_PING || opcode === OP_PONG) {
      return isFin && (b1 & 0x7f) <= MAX_CONTROL_PAYLOAD ? FORWARD : HAND_OVER;
    }
    if (opcode === OP_BINARY) {
      if (this.#fragments > 0) return HAND_OVER; // a new message inside a fragmented one: ws closes 1002
    } else if (opcode !== OP_CONTINUATION || this.#fragments === 0) {
      return HAND_OVER; // close, text, a stray continuation, reserved opcodes
    }
    // ws's limits on the message being assembled (receiver.js haveLength, getData): 1009 and 1008
    if (payloadLength < 0 || this.#fragmentBytes + payloadLength > this.#limits.maxPayload) return HAND_OVER;
    if (this.#fragments + 1 > this.#limits.maxFragments) return HAND_OVER;
    return isFin && this.#fragments === 0 ? FAST : FORWARD;
  }

  /** One whole frame at buf[pos..frameEnd), its header `header` bytes long. */
  #frame(buf: Buffer, pos: number, header: number, frameEnd: number, action: Action): void {
    if (action === FAST) {
      const payloadAt = pos + header;
      unmaskInPlace(buf, payloadAt, frameEnd, buf, payloadAt - 4);
      // a view, not a copy: node allocates a fresh buffer per socket read and never writes to it again (and a split
      // frame has a buffer of its own), so the bytes stay as they are for as long as anything holds the view
      this.#sink.receiveBinary(buf.subarray(payloadAt, frameEnd));
      return;
    }
    const b0 = buf[pos] as number;
    const opcode = b0 & 0x0f;
    if (opcode === OP_BINARY || opcode === OP_CONTINUATION) {
      if (b0 & 0x80) {
        this.#fragments = 0;
        this.#fragmentBytes = 0;
      } else {
        this.#fragments++;
        this.#fragmentBytes += frameEnd - pos - header;
      }
    }
    // ws's listener, `this` = the socket as ws expects; it pauses the socket when its receiver is full
    this.#wsOnData.call(this.#socket, buf.subarray(pos, frameEnd));
  }

  /** Keeps chunk[pos..] (a split frame, within the limits if its header is complete) until the rest arrives. */
  #keepPartial(chunk: Buffer, pos: number): void {
    if (parseHeader(chunk, pos, chunk.length)) {
      this.#partialSize = headerLength + payloadLength;
      this.#partial = Buffer.allocUnsafe(this.#partialSize);
    } else {
      this.#partialSize = 0;
      this.#partial = Buffer.allocUnsafe(MAX_HEADER);
    }
    this.#partialFill = chunk.copy(this.#partial, 0, pos);
  }

  /** Continues a split frame with `chunk`; returns where the chunk's next frame starts, or -1 (all used, or done). */
  #resume(chunk: Buffer): number {
    let used = 0;
    if (this.#partialSize === 0) {
      // header bytes only: up to 14 more from the chunk complete a header
      const head = this.#partial as Buffer;
      const before = this.#partialFill;
      const fill = before + chunk.copy(head, before, 0, MAX_HEADER - before);
      if (!parseHeader(head, 0, fill)) {
        this.#partialFill = fill; // the whole chunk went in: fewer than 14 bytes
        this.#refuseEarly(head.subarray(0, fill));
        return -1;
      }
      if (this.#classify(head[0] as number, head[1] as number) === HAND_OVER) {
        this.#handOver(Buffer.concat([head.subarray(0, before), chunk]));
        return -1;
      }
      const whole = Buffer.allocUnsafe(headerLength + payloadLength);
      head.copy(whole, 0, 0, headerLength);
      this.#partial = whole;
      this.#partialSize = whole.length;
      this.#partialFill = headerLength;
      used = headerLength - before;
    }
    const frame = this.#partial as Buffer;
    const took = chunk.copy(frame, this.#partialFill, used, used + this.#partialSize - this.#partialFill);
    this.#partialFill += took;
    used += took;
    if (this.#partialFill < this.#partialSize) return -1;
    this.#partial = undefined;
    parseHeader(frame, 0, frame.length);
    this.#frame(frame, 0, headerLength, frame.length, this.#classify(frame[0] as number, frame[1] as number));
    return this.#isDone ? -1 : used;
  }

  /** From `rest` on, the stream is ws's: its own listener goes back on the socket, and the reader lets go. */
  #handOver(rest: Buffer): void {
    this.#isDone = true;
    this.#partial = undefined;
    const socket = this.#socket;
    (socket as ReaderSocket)[kReader] = undefined;
    socket.off('data', WsFrameReader.#onData);
    socket.on('data', this.#wsOnData);
    if (rest.length > 0) this.#wsOnData.call(socket, rest);
    this.#limits.onHandOver();
  }
}
