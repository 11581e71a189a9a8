/**
 * `duet/client/tcp`: the client over a TCP (or TLS) stream instead of a WebSocket, for Node only (it imports
 * node:net, so it is a separate entry and the browser bundle never sees it). It is a WebSocketLike, so the same
 * Client runs on it: `new Client({ url: 'tcp://127.0.0.1:3554', WebSocket: tcpSocket() })`. Packets travel as due
 * sends them on TCP: back to back, each delimited by its 4-byte size prefix (in the packet byte order).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type {
  SocketCloseEvent,
  SocketErrorEvent,
  SocketMessageEvent,
  WebSocketConstructor,
  WebSocketLike,
} from './options.js';

export interface TcpSocketOptions {
  /** The gate's packet.byteOrder: the size prefix is read with it. Default big. */
  byteOrder?: 'big' | 'little';
  /** Largest packet accepted from the gate, prefix included; a larger one closes the socket. Default 16 MiB. */
  maxFrameBytes?: number;
  /** For tls:// urls: CA, servername and the like, passed to tls.connect. */
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const SIZE_BYTES = 4;
/** Reported when the stream ended without close(): TCP has no close frame, so this is WebSocket's "abnormal". */
const ABNORMAL = 1006;

type Listeners = {
  open: Set<() => void>;
  message: Set<(e: SocketMessageEvent) => void>;
  close: Set<(e: SocketCloseEvent) => void>;
  error: Set<(e: SocketErrorEvent) => void>;
};

function parseUrl(url: string): { secure: boolean; host: string; port: number } {
  const u = new URL(url);
  if (u.protocol !== 'tcp:' && u.protocol !== 'tls:') {
    throw new SyntaxError(`a TCP client url is tcp://host:port or tls://host:port, got ${url}`);
  }
  const port = Number(u.port);
  if (!Number.isInteger(port) || port <= 0) throw new SyntaxError(`${url} has no port`);
  return { secure: u.protocol === 'tls:', host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/** A WebSocket constructor over TCP for the Client's `WebSocket` option. */
export function tcpSocket(opts: TcpSocketOptions = {}): WebSocketConstructor {
  const little = opts.byteOrder === 'little';
  const maxFrameBytes = opts.maxFrameBytes ?? 16 * 1024 * 1024;

  return class TcpWebSocket implements WebSocketLike {
    binaryType = 'arraybuffer';
    #state = CONNECTING;
    readonly #socket: Socket;
    readonly #on: Listeners = { open: new Set(), message: new Set(), close: new Set(), error: new Set() };
    #pending: Buffer = Buffer.alloc(0);
    #code = ABNORMAL;
    #reason = '';

    constructor(url: string) {
      const { secure, host, port } = parseUrl(url);
      this.#socket = secure
        ? tlsConnect({ host, port, ...opts.tls, ...(opts.tls?.servername ? {} : { servername: host }) })
        : netConnect({ host, port });
      this.#socket.setNoDelay(true);
      this.#socket.once(secure ? 'secureConnect' : 'connect', () => {
        if (this.#state !== CONNECTING) return;
        this.#state = OPEN;
        for (const l of this.#on.open) l();
      });
      this.#socket.on('data', (chunk: Buffer) => this.#received(chunk));
      this.#socket.on('error', (err: Error) => {
        for (const l of this.#on.error) l({ error: err, message: err.message });
      });
      this.#socket.on('close', () => {
        this.#state = CLOSED;
        for (const l of this.#on.close) l({ code: this.#code, reason: this.#reason });
      });
    }

    get readyState(): number {
      return this.#state;
    }

    send(data: Uint8Array<ArrayBuffer>): void {
      if (this.#state !== OPEN) throw new Error('TCP socket is not open');
      this.#socket.write(data);
    }

    /** Ends the stream after what is written; the code and reason are reported in our own close event only. */
    close(code = 1000, reason = ''): void {
      if (this.#state === CLOSING || this.#state === CLOSED) return;
      this.#code = code;
      this.#reason = reason;
      this.#state = CLOSING;
      this.#socket.end();
    }

    terminate(): void {
      if (this.#state === CLOSED) return;
      this.#state = CLOSING;
      this.#socket.destroy();
    }

    addEventListener(type: keyof Listeners, listener: (e: never) => void): void {
      (this.#on[type] as Set<(e: never) => void>).add(listener);
    }

    removeEventListener(type: keyof Listeners, listener: (e: never) => void): void {
      (this.#on[type] as Set<(e: never) => void>).delete(listener);
    }

    #received(chunk: Buffer): void {
      let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
      while (buf.length >= SIZE_BYTES && this.#state === OPEN) {
        const total = SIZE_BYTES + (little ? buf.readUInt32LE(0) : buf.readUInt32BE(0));
        if (total > maxFrameBytes) {
          this.#code = 1009;
          this.#reason = `packet of ${total} bytes is over maxFrameBytes`;
          this.terminate();
          return;
        }
        if (buf.length < total) break;
        // A copy the listener may keep (the read buffer is reused by node).
        const frame = new Uint8Array(total);
        frame.set(buf.subarray(0, total));
        buf = buf.subarray(total);
        if (total > SIZE_BYTES) for (const l of this.#on.message) l({ data: frame.buffer });
      }
      this.#pending = Buffer.from(buf);
    }
  };
}
