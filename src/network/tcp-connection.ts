/**
 * One admitted TCP (or TLS) client: due's packets as a byte stream delimited by their 4-byte size prefix
 * (due network/tcp: a packet may arrive split across reads, several may arrive in one read). Each whole packet,
 * prefix included, goes to the handler as one frame, exactly as a WebSocket binary frame does, so the gate's
 * liveness, heartbeat, malformed-budget and rate-limit rules apply unchanged. Outbound frames go through the same
 * three priority lanes and budget as WebSocket (slow consumer → closed). TCP has no close frame: a close flushes
 * what is queued and ends the stream; the code is reported to the handler only.
 */
import type { Socket } from 'node:net';
import { CloseCode, type ErrorReporter } from '../errors.js';
import type { WriteQueueBudget } from './connection.js';
import { PreparedFrame } from './prepared-frame.js';
import type { Connection, ConnectionHandler, Lane, SendResult } from './transport.js';

const SIZE_BYTES = 4;
const ABNORMAL_CLOSURE = 1006;
export const TCP_TOO_LARGE_REASON = 'packet too large';
export const TCP_SLOW_CONSUMER_REASON = 'slow consumer';
export const TCP_TERMINATED_REASON = 'terminated';
export const TCP_PEER_CLOSED_REASON = 'peer closed';
const LANE_INDEX: Readonly<Record<Lane, 0 | 1 | 2>> = { control: 0, response: 1, push: 2 };

export interface TcpConnectionShared {
  handler: ConnectionHandler;
  writeQueue: WriteQueueBudget;
  closeTimeoutMs: number;
  /** Largest whole packet (prefix included); a larger size prefix closes the connection with 1009. */
  maxFrameBytes: number;
  littleEndian: boolean;
  reportError: ErrorReporter;
  onEnd: (c: TcpConnection) => void;
  onOverflow: (c: TcpConnection) => void;
}

type Phase = 'open' | 'flushing' | 'closing' | 'closed';

export class TcpConnection implements Connection {
  readonly cid: number;
  readonly remote: string;
  readonly #socket: Socket;
  readonly #shared: TcpConnectionShared;
  /** Bytes of an incomplete packet: the chunks read so far and their total length. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #lanes: [Uint8Array[], Uint8Array[], Uint8Array[]] | undefined;
  #queuedMessages = 0;
  #queuedBytes = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #phase: Phase = 'open';
  #closeCode: number | undefined;
  #closeReason = '';
  #deadline: NodeJS.Timeout | undefined;
  readonly #ended: Promise<void>;
  #resolveEnded: () => void = () => {};

  constructor(cid: number, remote: string, socket: Socket, shared: TcpConnectionShared) {
    this.cid = cid;
    this.remote = remote;
    this.#socket = socket;
    this.#shared = shared;
    this.#ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#received(chunk));
    socket.on('drain', () => this.#flush());
    // The peer's FIN: answer with ours once our queue is written (allowHalfOpen is off, node ends for us).
    socket.on('end', () => {
      if (this.#closeCode === undefined) {
        this.#closeCode = ABNORMAL_CLOSURE;
        this.#closeReason = TCP_PEER_CLOSED_REASON;
      }
    });
    socket.on('error', (err: Error) => {
      if (this.#closeCode === undefined) {
        this.#closeCode = ABNORMAL_CLOSURE;
        this.#closeReason = err.message;
      }
    });
    socket.on('close', () => this.#closed());
  }

  get ended(): Promise<void> {
    return this.#ended;
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + (this.#phase === 'closed' ? 0 : this.#socket.writableLength);
  }

  get bytesIn(): number {
    return this.#bytesIn;
  }

  get bytesOut(): number {
    return this.#bytesOut;
  }

  get queuedMessages(): number {
    return this.#queuedMessages;
  }

  /** A PreparedFrame (fan-out) is written as its payload: a TCP packet carries its own size prefix, no framing. */
  send(frame: Uint8Array | PreparedFrame, lane: Lane = 'push'): SendResult {
    if (this.#phase !== 'open' || this.#socket.destroyed) return 'closed';
    if (frame instanceof PreparedFrame) frame = frame.payload;
    if (this.#queuedMessages === 0 && !this.#socket.writableNeedDrain) {
      this.#write(frame);
      return 'sent';
    }
    const budget = this.#shared.writeQueue;
    if (this.#queuedMessages + 1 > budget.maxMessages || this.#queuedBytes + frame.byteLength > budget.maxBytes) {
      this.#overflow();
      return 'overflow';
    }
    this.#lanes ??= [[], [], []];
    this.#lanes[LANE_INDEX[lane]].push(frame);
    this.#queuedMessages++;
    this.#queuedBytes += frame.byteLength;
    return 'queued';
  }

  pauseReading(): void {
    if (this.#phase === 'open') this.#socket.pause();
  }

  resumeReading(): void {
    if (this.#phase === 'open') this.#socket.resume();
  }

  /** Graceful: reading stops, queued frames are written, then the stream ends; destroyed after the deadline. */
  close(code: CloseCode | number, reason = ''): Promise<void> {
    if (this.#phase !== 'open') return this.#ended;
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#phase = 'flushing';
    this.#socket.pause();
    this.#startDeadline();
    if (this.#queuedMessages === 0) this.#end();
    return this.#ended;
  }

  terminate(): void {
    if (this.#phase === 'closed') return;
    if (this.#closeCode === undefined) {
      this.#closeCode = ABNORMAL_CLOSURE;
      this.#closeReason = TCP_TERMINATED_REASON;
    }
    this.#phase = 'closing';
    this.#dropQueues();
    this.#socket.destroy();
  }

  #received(chunk: Buffer): void {
    if (this.#phase !== 'open') return;
    let buf = chunk;
    if (this.#partialBytes > 0) {
      this.#partial.push(chunk);
      this.#partialBytes += chunk.length;
      // Wait for the whole packet before copying: a large packet in many reads is joined once.
      if (this.#partialBytes < this.#needed()) return;
      buf = Buffer.concat(this.#partial, this.#partialBytes);
      this.#partial = [];
      this.#partialBytes = 0;
    }
    let off = 0;
    while (this.#phase === 'open' && buf.length - off >= SIZE_BYTES) {
      const size = this.#shared.littleEndian ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
      const total = SIZE_BYTES + size;
      if (total > this.#shared.maxFrameBytes) {
        this.#tooLarge(size);
        return;
      }
      if (buf.length - off < total) break;
      // due skips an empty packet (size 0) on a stream.
      if (size > 0) this.#deliver(buf.subarray(off, off + total));
      off += total;
    }
    if (off < buf.length && this.#phase === 'open') {
      // Copied: `buf` may be a pooled read buffer that node reuses.
      const rest = Buffer.from(buf.subarray(off));
      this.#partial = [rest];
      this.#partialBytes = rest.length;
    }
  }

  /** Bytes the pending packet needs in all (its prefix when not all 4 bytes are in yet). */
  #needed(): number {
    const first = this.#partial[0];
    if (first === undefined) return SIZE_BYTES;
    if (this.#partialBytes < SIZE_BYTES || first.length < SIZE_BYTES) {
      if (this.#partialBytes < SIZE_BYTES) return SIZE_BYTES;
      const head = Buffer.concat(this.#partial, this.#partialBytes);
      this.#partial = [head];
      return this.#needed();
    }
    const size = this.#shared.littleEndian ? first.readUInt32LE(0) : first.readUInt32BE(0);
    // A too-large prefix is rejected by the parse that follows, without waiting for its body.
    return SIZE_BYTES + size > this.#shared.maxFrameBytes ? 0 : SIZE_BYTES + size;
  }

  #deliver(frame: Uint8Array): void {
    this.#bytesIn += frame.byteLength;
    try {
      this.#shared.handler.frame(this, frame);
    } catch (err) {
      this.#shared.reportError(err, `connection ${this.cid}: handler.frame`);
      this.close(CloseCode.INTERNAL, 'internal error').catch((e: unknown) => this.#shared.reportError(e, 'close'));
    }
  }

  #tooLarge(size: number): void {
    // A stream cannot skip a packet it will not read: the connection ends (WebSocket answers 1009 too).
    this.#closeCode = CloseCode.TOO_LARGE;
    this.#closeReason = `${TCP_TOO_LARGE_REASON}: ${size} bytes`;
    this.terminate();
  }

  #flush(): void {
    const lanes = this.#lanes;
    if (lanes === undefined || this.#phase === 'closing' || this.#phase === 'closed') return;
    while (this.#queuedMessages > 0 && !this.#socket.writableNeedDrain) {
      const frame = lanes[0].shift() ?? lanes[1].shift() ?? lanes[2].shift();
      if (frame === undefined) break;
      this.#queuedMessages--;
      this.#queuedBytes -= frame.byteLength;
      this.#write(frame);
    }
    if (this.#queuedMessages === 0 && this.#phase === 'flushing') this.#end();
  }

  #write(frame: Uint8Array): void {
    this.#bytesOut += frame.byteLength;
    this.#socket.write(frame);
  }

  #end(): void {
    this.#phase = 'closing';
    this.#socket.end();
  }

  #overflow(): void {
    this.#closeCode = CloseCode.SLOW_CONSUMER;
    this.#closeReason = TCP_SLOW_CONSUMER_REASON;
    try {
      this.#shared.onOverflow(this);
    } catch (err) {
      this.#shared.reportError(err, `connection ${this.cid}: onOverflow`);
    }
    // The queued frames would never be read in time; nothing can tell a TCP client why, so end at once.
    this.terminate();
  }

  #startDeadline(): void {
    if (this.#deadline !== undefined) return;
    this.#deadline = setTimeout(() => this.terminate(), this.#shared.closeTimeoutMs);
    this.#deadline.unref();
  }

  #dropQueues(): void {
    this.#lanes = undefined;
    this.#queuedMessages = 0;
    this.#queuedBytes = 0;
    this.#partial = [];
    this.#partialBytes = 0;
  }

  #closed(): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    clearTimeout(this.#deadline);
    this.#dropQueues();
    try {
      this.#shared.onEnd(this);
      this.#shared.handler.closed(this, this.#closeCode ?? ABNORMAL_CLOSURE, this.#closeReason);
    } catch (err) {
      this.#shared.reportError(err, `connection ${this.cid}: handler.closed`);
    }
    this.#resolveEnded();
  }
}
