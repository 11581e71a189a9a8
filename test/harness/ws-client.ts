import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { type DataPacket, type Packet, PacketCodec } from '../../src/packet/codec.js';
import type { PacketOptions } from '../../src/packet/options.js';

/**
 * A tiny due-protocol client for tests (docs/contributing.md): raw frames in and out over `ws`, decoded with the product's
 * PacketCodec. Inbound frames wait in an inbox until a test takes them, so nothing is lost between awaits.
 */

export interface WsClientOptions {
  /** Sent as the Origin header. */
  origin?: string;
  /** Packet layout; must match the gate's. */
  packet?: Partial<PacketOptions>;
  /** For wss:// with a self-signed certificate. */
  rejectUnauthorized?: boolean;
  /** How long the upgrade may take. Default 5 s. */
  timeoutMs?: number;
}

/** One inbound binary frame: the bytes as received, and the packet when they decode. */
export interface Received {
  readonly bytes: Buffer;
  readonly packet: Packet | undefined;
  /** Date.now() at arrival. */
  readonly atMs: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
  /** Date.now() when the client saw the close. */
  atMs: number;
}

/** Why an upgrade did not happen: the HTTP status the server answered (0 when the socket failed). */
export interface Refused {
  status: number;
  body: string;
}

type Waiter = { match: (r: Received) => boolean; resolve: (r: Received) => void };

function isData(r: Received): r is Received & { packet: DataPacket } {
  return r.packet?.kind === 'data';
}

export class WsTestClient implements AsyncDisposable {
  readonly ws: WebSocket;
  readonly codec: PacketCodec;
  /** Frames received and not yet taken. */
  readonly inbox: Received[] = [];
  /** Text frames are not part of the protocol; counted so a test can assert none came. */
  textFrames = 0;
  readonly closed: Promise<CloseInfo>;
  #waiters: Waiter[] = [];
  #closeInfo: CloseInfo | undefined;
  #seq = 0;

  private constructor(ws: WebSocket, codec: PacketCodec) {
    this.ws = ws;
    this.codec = codec;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.#closeInfo = { code, reason: reason.toString(), atMs: Date.now() };
        resolve(this.#closeInfo);
      });
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) {
        this.textFrames++;
        return;
      }
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      const r = codec.decode(bytes);
      this.#deliver({ bytes, packet: r.ok ? r.packet : undefined, atMs: Date.now() });
    });
  }

  /** Opens a connection; rejects with the HTTP status when the gate refuses the upgrade. */
  static async connect(url: string, opts: WsClientOptions = {}): Promise<WsTestClient> {
    const r = await WsTestClient.tryConnect(url, opts);
    if (r instanceof WsTestClient) return r;
    throw new Error(`upgrade to ${url} refused: HTTP ${r.status} ${r.body}`);
  }

  /** Like connect(), but a refusal resolves with its HTTP status instead of rejecting. */
  static tryConnect(url: string, opts: WsClientOptions = {}): Promise<WsTestClient | Refused> {
    const ws = new WebSocket(url, {
      origin: opts.origin,
      rejectUnauthorized: opts.rejectUnauthorized,
      handshakeTimeout: opts.timeoutMs ?? 5000,
      perMessageDeflate: false,
    });
    const codec = new PacketCodec(opts.packet);
    return new Promise((resolve) => {
      let client: WsTestClient | undefined;
      ws.once('open', () => {
        client = new WsTestClient(ws, codec);
        resolve(client);
      });
      ws.once('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          ws.terminate();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      ws.on('error', (err: Error) => {
        // after 'open', failures show up as the close code
        if (!client) resolve({ status: 0, body: err.message });
      });
    });
  }

  #deliver(r: Received): void {
    const i = this.#waiters.findIndex((w) => w.match(r));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w?.resolve(r);
      return;
    }
    this.inbox.push(r);
  }

  /** The next frame matching `match` (default: any); rejects after `timeoutMs` (default 2 s) or when the socket closes. */
  next(opts: { timeoutMs?: number; match?: (r: Received) => boolean } = {}): Promise<Received> {
    const match = opts.match ?? (() => true);
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Received);
    const timeoutMs = opts.timeoutMs ?? 2000;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms (closed: ${JSON.stringify(this.#closeInfo)})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves undefined when no matching frame arrives within `ms` (a deliberate silence check, not a sync point). */
  async nextOrNone(ms: number, match?: (r: Received) => boolean): Promise<Received | undefined> {
    try {
      return await this.next({ timeoutMs: ms, match });
    } catch {
      return undefined;
    }
  }

  /** Sends raw bytes as one binary frame. */
  sendRaw(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  sendData(route: number, seq: number, body: Uint8Array | string = new Uint8Array(0)): void {
    const b = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    this.sendRaw(this.codec.encode({ route, seq, body: b }));
  }

  sendHeartbeat(): void {
    this.sendRaw(this.codec.encodeHeartbeat());
  }

  /** The next request seq: 1..max of the seq width, never 0 (0 means push). */
  nextSeq(): number {
    const max = 2 ** (this.codec.options.seqBytes * 8 - 1) - 1;
    this.#seq = (this.#seq % Math.max(1, max)) + 1;
    return this.#seq;
  }

  /** Sends a request and resolves with its response (same route and seq); other frames stay in the inbox. */
  async request(
    route: number,
    body: Uint8Array | string = new Uint8Array(0),
    timeoutMs = 2000,
  ): Promise<DataPacket & { text: string }> {
    const seq = this.nextSeq();
    this.sendData(route, seq, body);
    const r = await this.next({
      timeoutMs,
      match: (x) => isData(x) && x.packet.route === route && x.packet.seq === seq,
    });
    const p = r.packet as DataPacket;
    return { ...p, text: Buffer.from(p.body).toString('utf8') };
  }

  /** Resolves with the close code and reason the client saw; rejects after `timeoutMs` (default 5 s). */
  waitClose(timeoutMs = 5000): Promise<CloseInfo> {
    if (this.#closeInfo) return Promise.resolve(this.#closeInfo);
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.closed.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Graceful client close (close frame), resolves when the socket has ended. */
  async close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    else if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    return this.waitClose();
  }

  terminate(): void {
    this.ws.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    await this.closed;
  }
}

/** Shorthand for WsTestClient.connect. */
export function connect(url: string, opts?: WsClientOptions): Promise<WsTestClient> {
  return WsTestClient.connect(url, opts);
}

/** Hex string ("00 00 00 01 80") to bytes. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}
