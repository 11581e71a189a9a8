import WebSocket from 'ws';
import type { PacketCodec } from '../packet/codec.js';
import type { ReplayConnection } from '../replay/replay-connection.js';
import type { ReplayPacket } from '../replay/replay-diff.js';

export const DEFAULT_REPLAY_CONNECT_TIMEOUT_MS = 5000;

/**
 * One replayed client over `ws` (the replay core sees only the ReplayConnection interface): sends recorded bytes as
 * binary frames and keeps the server's data packets (heartbeats and undecodable frames are counted, not kept).
 * Waiters are resolved on arrival, so nothing is polled.
 */
export class WsReplayConnection implements ReplayConnection {
  readonly received: ReplayPacket[] = [];
  heartbeats = 0;
  undecodable = 0;
  /** Set once the socket has closed. */
  closeCode: number | undefined;
  closeReason = '';
  readonly #ws: WebSocket;
  #waiters: { count: number; resolve: () => void }[] = [];
  readonly closed: Promise<void>;

  private constructor(ws: WebSocket, codec: PacketCodec) {
    this.#ws = ws;
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) return;
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      const r = codec.decode(bytes);
      if (!r.ok) this.undecodable++;
      else if (r.packet.kind === 'heartbeat') this.heartbeats++;
      else {
        // the decoded body is a view of this frame: copy it, the frame is not ours to keep
        this.received.push({ route: r.packet.route, seq: r.packet.seq, body: new Uint8Array(r.packet.body) });
        this.#wake();
      }
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.#wake();
        resolve();
      });
    });
  }

  /** Opens a connection; rejects with the HTTP status or socket error when the upgrade fails. */
  static open(
    url: string,
    codec: PacketCodec,
    timeoutMs = DEFAULT_REPLAY_CONNECT_TIMEOUT_MS,
  ): Promise<WsReplayConnection> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot connect to ${url}: ${err.message}`));
      ws.once('error', onError);
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new Error(`upgrade to ${url} refused: HTTP ${res.statusCode}`));
      });
      ws.once('open', () => {
        ws.off('error', onError);
        // errors after open show up as the close code; a listener keeps them from being thrown
        ws.on('error', () => {});
        resolve(new WsReplayConnection(ws, codec));
      });
    });
  }

  get isOpen(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** false when the socket is no longer open (the server closed it). */
  send(bytes: Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.#ws.send(bytes, { binary: true });
    return true;
  }

  /** Resolves when `count` data packets have arrived, the socket closed, or `timeoutMs` passed; true if arrived. */
  waitFor(count: number, timeoutMs: number): Promise<boolean> {
    if (this.received.length >= count) return Promise.resolve(true);
    if (this.closeCode !== undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.received.length >= count);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  #wake(): void {
    const closed = this.closeCode !== undefined;
    const ready = this.#waiters.filter((w) => closed || this.received.length >= w.count);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  /** Closes gracefully (1000) and resolves when the socket has ended; terminates after `timeoutMs`. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000, 'replay done');
    else if (this.#ws.readyState === WebSocket.CONNECTING) this.#ws.terminate();
    const timer = setTimeout(() => this.#ws.terminate(), timeoutMs);
    await this.closed;
    clearTimeout(timer);
  }
}

/** The connector the CLI and tests give replayCapture(). */
export const openWsReplayConnection = (url: string, codec: PacketCodec): Promise<ReplayConnection> =>
  WsReplayConnection.open(url, codec);
