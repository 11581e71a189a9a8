import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/**
 * Just enough of `ws`'s WebSocket over a TCP stream for the load worker and probe: 'open', one 'message' per due
 * packet (split at the 4-byte big-endian size prefix), 'error', 'close'; send, close, terminate, readyState.
 */
export class TcpWs extends EventEmitter {
  static readonly OPEN = 1;
  readonly OPEN = 1;
  readyState = 0;
  binaryType = 'nodebuffer';
  readonly #socket: Socket;
  #pending: Buffer | undefined;

  constructor(url: string) {
    super();
    const u = new URL(url);
    this.#socket = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    this.#socket.once('connect', () => {
      this.readyState = 1;
      this.emit('open');
    });
    this.#socket.on('data', (chunk: Buffer) => this.#data(chunk));
    this.#socket.on('error', (err) => this.emit('error', err));
    this.#socket.on('close', () => {
      this.readyState = 3;
      this.emit('close', 1006, Buffer.alloc(0));
    });
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  send(data: Uint8Array): void {
    this.#socket.write(data);
  }

  close(): void {
    this.readyState = 2;
    this.#socket.end();
  }

  terminate(): void {
    this.readyState = 2;
    this.#socket.destroy();
  }

  #data(chunk: Buffer): void {
    let buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const total = 4 + buf.readUInt32BE(off);
      if (buf.length - off < total) break;
      this.emit('message', buf.subarray(off, off + total));
      off += total;
    }
    this.#pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined;
    buf = Buffer.alloc(0);
  }
}
