/**
 * One admitted WebSocket: inbound binary frames to the handler, outbound frames through three priority lanes with a
 * bounded budget (issue 10, slow consumers), graceful close with a close frame (docs/protocol.md, Errors) and terminate.
 * Only ws-transport.ts constructs it; the gate sees the Connection interface.
 */
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { CloseCode, type ErrorReporter } from '../errors.js';
import { closeCodeOfWsError, isSendableCloseCode, truncateUtf8 } from './close-frame.js';
import type { CloseQueue } from './close-queue.js';
import { FrameQueue } from './frame-queue.js';
import { PreparedFrame, writeCorked } from './prepared-frame.js';
import type { Connection, ConnectionHandler, Lane, SendResult } from './transport.js';
import { WsFrameReader } from './ws-frame-reader.js';

/** Outbound budget per connection: frames waiting in the lanes (not yet handed to the socket). */
export interface WriteQueueBudget {
  maxMessages: number;
  maxBytes: number;
}

export const DEFAULT_WRITE_QUEUE: Readonly<WriteQueueBudget> = { maxMessages: 1024, maxBytes: 4 * 1024 * 1024 };
export const DEFAULT_CLOSE_TIMEOUT_MS = 3000;
/** RFC 6455 5.5: a control frame payload is at most 125 bytes, 2 of them the code. */
const MAX_CLOSE_REASON_BYTES = 123;
/** Why the transport ended a connection itself; the gate sees these in ConnectionHandler.closed. */
export const SLOW_CONSUMER_REASON = 'slow consumer';
export const TERMINATED_REASON = 'terminated';
/** ws reports 1006 when no close frame was exchanged; we report the same for terminate(). */
const ABNORMAL_CLOSURE = 1006;

/** Reused for every send: ws reads the flags only, and one object per frame would be garbage on the hot path. */
const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const;

/** What every connection of one transport shares; one object, so a connection holds one pointer, not six. */
export interface ConnectionShared {
  handler: ConnectionHandler;
  writeQueue: WriteQueueBudget;
  closeTimeoutMs: number;
  reportError: ErrorReporter;
  /** Transport bookkeeping; runs once, as soon as the socket has closed (before handler.closed). */
  onEnd: (c: WsConnection) => void;
  /** handler.closed runs from here, time-sliced, so a mass disconnect does not stall the gate (close-queue.ts). */
  closeQueue: CloseQueue;
  /** Counted by the transport (stats.slowConsumers). */
  onOverflow: (c: WsConnection) => void;
}

type Phase = 'open' | 'flushing' | 'closing' | 'closed';

type Frame = Uint8Array | PreparedFrame;

/** Lanes in priority order: control, response, push. */
type Lanes = readonly [FrameQueue, FrameQueue, FrameQueue];
const kConnection = Symbol('duet.connection');
type TaggedWebSocket = WebSocket & { [kConnection]?: WsConnection };
type TaggedSocket = Duplex & { [kConnection]?: WsConnection };
const LANE_INDEX: Readonly<Record<Lane, 0 | 1 | 2>> = { control: 0, response: 1, push: 2 };

export class WsConnection implements Connection {
  readonly cid: number;
  readonly remote: string;

  readonly #ws: WebSocket;
  /** The raw socket under `ws`: its 'drain' event and writableNeedDrain drive the lanes. */
  readonly #socket: Duplex;
  readonly #shared: ConnectionShared;
  /** Created on the first queued frame: most connections never queue, and idle memory is per connection. */
  #lanes: Lanes | undefined;
  #queuedMessages = 0;
  #queuedBytes = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #phase: Phase = 'open';
  /** Set by whoever ended the connection first (close(), overflow, terminate(), a ws protocol error). */
  #closeCode: number | undefined;
  #closeReason = '';
  #deadline: NodeJS.Timeout | undefined;
  #endedPromise: Promise<void> | undefined;
  #resolveEnded: (() => void) | undefined;
  /** Created on the first queued frame (slow path only). */
  #flushOnDrain: (() => void) | undefined;

  constructor(cid: number, remote: string, ws: WebSocket, socket: Duplex, shared: ConnectionShared) {
    this.cid = cid;
    this.remote = remote;
    this.#ws = ws;
    this.#socket = socket;
    this.#shared = shared;
    // shared listeners find the connection through a tag on ws: three closures per connection cost ~1 KB of idle
    // heap under tsx (its keepNames redefines `name` on each closure instance), the tag one slot
    (ws as TaggedWebSocket)[kConnection] = this;
    (socket as TaggedSocket)[kConnection] = this;
    ws.on('message', WsConnection.#onMessage);
    ws.on('error', WsConnection.#onWsError);
    ws.on('close', WsConnection.#onWsClose);
  }

  static #onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    // biome-ignore lint/complexity/noThisInStatic: ws calls listeners with `this` = the WebSocket, not the class
    const c = (this as TaggedWebSocket)[kConnection];
    if (c !== undefined) c.#received(data, isBinary);
  }

  static #onWsError(this: WebSocket, err: Error): void {
    // biome-ignore lint/complexity/noThisInStatic: ws calls listeners with `this` = the WebSocket, not the class
    const c = (this as TaggedWebSocket)[kConnection];
    if (c !== undefined) c.#failed(err);
  }

  static #onWsClose(this: WebSocket, code: number, reason: Buffer): void {
    // biome-ignore lint/complexity/noThisInStatic: ws calls listeners with `this` = the WebSocket, not the class
    const c = (this as TaggedWebSocket)[kConnection];
    if (c !== undefined) c.#closed(code, reason);
  }

  /** The socket's 'end' listener in place of ws's own (peer-end.ts says why); `this` is the socket. */
  static onPeerEnd(this: Duplex): void {
    // biome-ignore lint/complexity/noThisInStatic: Node calls listeners with `this` = the socket, not the class
    const c = (this as TaggedSocket)[kConnection];
    if (c !== undefined) c.#peerEnded();
  }

  /** Resolves once the socket has closed and handler.closed has run; never rejects. */
  get ended(): Promise<void> {
    if (this.#endedPromise === undefined) {
      this.#endedPromise =
        this.#phase === 'closed'
          ? Promise.resolve()
          : new Promise((resolve) => {
              this.#resolveEnded = resolve;
            });
    }
    return this.#endedPromise;
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + (this.#phase === 'closed' ? 0 : this.#ws.bufferedAmount);
  }

  get bytesIn(): number {
    return this.#bytesIn;
  }

  get bytesOut(): number {
    return this.#bytesOut;
  }

  /** Frames waiting in the lanes (not yet handed to the socket). */
  get queuedMessages(): number {
    return this.#queuedMessages;
  }

  /**
   * The frame is written at once when nothing is queued and the socket has not crossed its high-water mark;
   * otherwise it waits in its lane. The caller must not modify `frame` afterwards (it is written without a copy).
   */
  send(frame: Uint8Array | PreparedFrame, lane: Lane = 'push'): SendResult {
    // readyState leaves OPEN as soon as the peer's close frame arrives, before 'close' reaches us
    if (this.#phase !== 'open' || this.#ws.readyState !== this.#ws.OPEN) return 'closed';
    // writableNeedDrain is the socket's own low-water signal: once it is set a 'drain' event is guaranteed, so the
    // queue never waits for an event that will not come (polling bufferedAmount would need a timer per connection,
    // and a send callback per frame would allocate a closure on the hot path).
    if (this.#queuedMessages === 0 && !this.#socket.writableNeedDrain) {
      this.#write(frame);
      return 'sent';
    }
    const budget = this.#shared.writeQueue;
    if (this.#queuedMessages + 1 > budget.maxMessages || this.#queuedBytes + frame.byteLength > budget.maxBytes) {
      this.#overflow();
      return 'overflow';
    }
    this.#lanes ??= [new FrameQueue(), new FrameQueue(), new FrameQueue()];
    this.#lanes[LANE_INDEX[lane]].push(frame);
    // one 'drain' listener while frames wait (registered on the slow path only, so idle sockets carry none)
    if (this.#queuedMessages === 0) this.#waitForDrain();
    this.#queuedMessages++;
    this.#queuedBytes += frame.byteLength;
    return 'queued';
  }

  /**
   * Graceful: inbound frames stop, queued frames are flushed, then a close frame with `code`/`reason` (cut to
   * 123 bytes) is sent; resolves when the socket has closed, terminating it after closeTimeoutMs. handler.closed
   * reports this code and reason even when the deadline forced the end. Later calls return the same promise.
   * Rejects with RangeError (and changes nothing) for a code ws cannot send (1004-1006, 1015, < 1000, 5000+).
   */
  close(code: CloseCode | number, reason = ''): Promise<void> {
    if (this.#phase !== 'open') return this.ended;
    if (!isSendableCloseCode(code)) {
      return Promise.reject(new RangeError(`close code must be 1000-1014 (not 1004-1006) or 3000-4999, got ${code}`));
    }
    this.#closeCode = code;
    this.#closeReason = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
    this.#phase = 'flushing';
    this.#readForClose();
    this.#startDeadline();
    if (this.#queuedMessages === 0) this.#sendCloseFrame();
    return this.ended;
  }

  /** Destroys the socket now; queued frames are dropped. handler.closed follows (1006 'terminated' unless a close started first). */
  terminate(): void {
    if (this.#phase === 'closed') return;
    if (this.#closeCode === undefined) {
      this.#closeCode = ABNORMAL_CLOSURE;
      this.#closeReason = TERMINATED_REASON;
    }
    this.#phase = 'closing';
    this.#dropQueues();
    this.#ws.terminate();
  }

  pauseReading(): void {
    if (this.#phase === 'open') this.#ws.pause();
  }

  resumeReading(): void {
    if (this.#phase === 'open') this.#ws.resume();
  }

  /** A close handshake needs the peer's close frame: a held connection is read again once it closes. */
  #readForClose(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  #received(data: RawData, isBinary: boolean): void {
    // docs/protocol.md, Transport: text frames are ignored
    if (isBinary) this.receiveBinary(toBytes(data));
  }

  /** One binary message, from ws or from the transport's own frame reader (ws-frame-reader.ts). */
  receiveBinary(bytes: Uint8Array): void {
    // nothing is delivered once a close has started
    if (this.#phase !== 'open') return;
    this.#bytesIn += bytes.byteLength;
    try {
      this.#shared.handler.frame(this, bytes);
    } catch (err) {
      this.#shared.reportError(err, `connection ${this.cid}: handler.frame`);
      this.close(CloseCode.INTERNAL, 'internal error').catch((e: unknown) => this.#shared.reportError(e, 'close'));
    }
  }

  #failed(err: Error): void {
    WsFrameReader.stop(this.#socket);
    // ws has already sent a close frame for receiver errors (oversized frame → 1009); remember why
    if (this.#closeCode === undefined) {
      this.#closeCode = closeCodeOfWsError(err);
      this.#closeReason = err.message;
    }
    if (this.#phase === 'open' || this.#phase === 'flushing') {
      this.#phase = 'closing';
      this.#dropQueues();
      this.#startDeadline();
    }
  }

  /**
   * The peer sent its FIN: nothing more will be read. Frames still in the socket's buffer get ws's answer (end: FIN
   * after them); otherwise the socket is destroyed from the close queue, in a slice with other closes (peer-end.ts).
   * Frames waiting in the lanes are dropped, as they were when ws ended the socket.
   */
  #peerEnded(): void {
    if (this.#phase === 'closed') return;
    if (this.#phase !== 'closing') {
      this.#phase = 'closing';
      this.#dropQueues();
    }
    const socket = this.#socket;
    if (socket.writableLength > 0) socket.end();
    else this.#shared.closeQueue.push(() => socket.destroy());
  }

  #closed(code: number, reason: Buffer): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    if (this.#flushOnDrain !== undefined) this.#socket.off('drain', this.#flushOnDrain);
    this.#dropQueues();
    const finalCode = this.#closeCode ?? code;
    const finalReason = this.#closeCode === undefined ? reason.toString() : this.#closeReason;
    try {
      this.#shared.onEnd(this);
    } catch (err) {
      this.#shared.reportError(err, `connection ${this.cid}: onEnd`);
    }
    this.#shared.closeQueue.push(() => {
      try {
        this.#shared.handler.closed(this, finalCode, finalReason);
      } catch (err) {
        this.#shared.reportError(err, `connection ${this.cid}: handler.closed`);
      }
      this.#resolveEnded?.();
    });
  }

  #waitForDrain(): void {
    this.#flushOnDrain ??= () => this.#flush();
    this.#socket.once('drain', this.#flushOnDrain);
  }

  /** Writes queued frames, highest lane first, until the socket asks us to wait for the next 'drain'. */
  #flush(): void {
    const lanes = this.#lanes;
    if (lanes === undefined) return;
    while (this.#queuedMessages > 0 && !this.#socket.writableNeedDrain) {
      const frame = lanes[0].shift() ?? lanes[1].shift() ?? lanes[2].shift();
      if (frame === undefined) break;
      this.#queuedMessages--;
      this.#queuedBytes -= frame.byteLength;
      this.#write(frame);
    }
    if (this.#queuedMessages > 0) this.#waitForDrain();
    else if (this.#phase === 'flushing') this.#sendCloseFrame();
  }

  /**
   * A prepared frame's bytes go straight to the socket, corked until the turn ends: ws writes synchronously
   * (no permessage-deflate here, no Blob data), so frames of both paths stay whole and in order.
   */
  #write(frame: Frame): void {
    this.#bytesOut += frame.byteLength;
    if (frame instanceof PreparedFrame) writeCorked(this.#socket, frame.wire);
    else this.#ws.send(frame, SEND_OPTIONS);
  }

  #sendCloseFrame(): void {
    this.#phase = 'closing';
    this.#ws.close(this.#closeCode, this.#closeReason);
  }

  #overflow(): void {
    this.#closeCode = CloseCode.SLOW_CONSUMER;
    this.#closeReason = SLOW_CONSUMER_REASON;
    this.#phase = 'closing';
    this.#readForClose();
    // the queued frames will never be read in time; the close frame still gets a chance within the deadline
    this.#dropQueues();
    this.#startDeadline();
    this.#ws.close(CloseCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON);
    try {
      this.#shared.onOverflow(this);
    } catch (err) {
      this.#shared.reportError(err, `connection ${this.cid}: onOverflow`);
    }
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
  }
}

function toBytes(data: RawData): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return new Uint8Array(data);
}
