import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type DecodeResult, PacketCodec } from '../../src/packet/codec.js';

/**
 * A raw TCP client for tests: writes bytes exactly as given (so tests control how packets are split or joined)
 * and splits what it reads at the size prefix, like due's TCP client. Every packet read is kept in order.
 */
export class TcpTestClient implements AsyncDisposable {
  readonly socket: Socket;
  readonly codec: PacketCodec;
  readonly received: DecodeResult[] = [];
  #pending = Buffer.alloc(0);
  #closed = false;
  #waiters: (() => void)[] = [];
  readonly closedAt: Promise<void>;

  private constructor(socket: Socket, codec: PacketCodec) {
    this.socket = socket;
    this.codec = codec;
    socket.on('data', (chunk: Buffer) => {
      let buf = Buffer.concat([this.#pending, chunk]);
      while (buf.length >= 4) {
        const total = 4 + (codec.options.byteOrder === 'little' ? buf.readUInt32LE(0) : buf.readUInt32BE(0));
        if (buf.length < total) break;
        this.received.push(codec.decode(new Uint8Array(buf.subarray(0, total))));
        buf = buf.subarray(total);
      }
      this.#pending = Buffer.from(buf);
      this.#wake();
    });
    socket.on('error', () => {});
    this.closedAt = new Promise((resolve) =>
      socket.once('close', () => {
        this.#closed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static connect(port: number, opts: { codec?: PacketCodec; tls?: { ca: Buffer } } = {}): Promise<TcpTestClient> {
    const codec = opts.codec ?? new PacketCodec();
    return new Promise((resolve, reject) => {
      const socket = opts.tls
        ? tlsConnect({ host: '127.0.0.1', port, ca: opts.tls.ca, servername: '127.0.0.1' })
        : netConnect({ host: '127.0.0.1', port });
      const client = new TcpTestClient(socket, codec);
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve(client));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  data(route: number, seq: number, body: string | Uint8Array): Uint8Array {
    const b = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    return this.codec.encode({ route, seq, body: b });
  }

  /** Waits until `ok(received)` holds or the socket closes; fails after `ms`. */
  async until(ok: (r: DecodeResult[]) => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!ok(this.received)) {
      if (this.#closed) throw new Error(`socket closed while waiting for ${what}; got ${this.received.length}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${this.received.length} packets`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves when the server closed the socket, within `ms`. */
  async waitClosed(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closedAt,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Text bodies of the data packets received, in order. */
  texts(): string[] {
    const out: string[] = [];
    for (const r of this.received) {
      if (r.ok && r.packet.kind === 'data') out.push(new TextDecoder().decode(r.packet.body));
    }
    return out;
  }

  heartbeats(): number {
    return this.received.filter((r) => r.ok && r.packet.kind === 'heartbeat').length;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.destroy();
    await this.closedAt;
  }
}
