/**
 * The gate's TCP listener (due network/tcp, `[network.tcp.server]`): plain TCP, or TLS when keyFile and certFile
 * are set. A connection over maxConnNum, or one arriving while draining, is closed at once, as due does after its
 * accept (there is no HTTP status to answer with on a raw stream). Frames and limits: tcp-connection.ts.
 */
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { ClosedError, ConfigError, DuetError, ErrorCode, type ErrorReporter, UnavailableError } from '../errors.js';
import { DEFAULT_MAX_CONN_NUM, RefusalReason } from './admission.js';
import { DEFAULT_CLOSE_TIMEOUT_MS, DEFAULT_WRITE_QUEUE, type WriteQueueBudget } from './connection.js';
import { readTlsFiles, stopListener } from './listener.js';
import { TcpConnection, type TcpConnectionShared } from './tcp-connection.js';
import type { ConnectionHandler, Transport, TransportStats } from './transport.js';

export interface TcpTransportOptions {
  host?: string;
  port: number;
  /** Default 5000; ≤ 0 means the default, as in due. */
  maxConnNum?: number;
  tls?: { keyFile?: string; certFile?: string };
  /** Largest whole packet in bytes, size prefix included (the gate passes codec.maxFrameBytes). */
  maxFrameBytes: number;
  /** The packet byte order (packet.byteOrder): the size prefix is read with it. */
  byteOrder: 'big' | 'little';
  writeQueue?: Partial<WriteQueueBudget>;
  closeTimeoutMs?: number;
  /**
   * First connection id. Beside a WebSocket transport on one gate, ids must not collide: compose starts TCP ids
   * at 2^32 + 1, a range the WebSocket counter never reaches.
   */
  firstCid?: number;
  reportError?: ErrorReporter;
}

export interface TcpTransportStats extends TransportStats {
  slowConsumers: number;
}

const OPTION_PREFIX = 'network.tcp.server';

/** IPv4-mapped IPv6 counts as the IPv4 address (as the WebSocket side reports it). */
function normalizeIp(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function defaultReportError(err: unknown, context: string): void {
  process.stderr.write(`duet tcp-transport: ${context}: ${err instanceof Error ? err.message : String(err)}\n`);
}

export class TcpTransport implements Transport {
  readonly #opts: TcpTransportOptions;
  readonly #maxConnNum: number;
  readonly #budget: WriteQueueBudget;
  readonly #reportError: ErrorReporter;
  readonly #connections = new Set<TcpConnection>();
  readonly #refused: Record<string, number> = {};
  #slowConsumers = 0;
  #nextCid: number;
  #isRefusingNew = false;
  #isListenCalled = false;
  #server: Server | undefined;
  #shared: TcpConnectionShared | undefined;
  #closing: Promise<void> | undefined;
  #address: { host: string; port: number } | undefined;

  constructor(opts: TcpTransportOptions) {
    if (!Number.isInteger(opts.maxFrameBytes) || opts.maxFrameBytes <= 4) {
      throw new ConfigError(`${OPTION_PREFIX}.maxFrameBytes`, opts.maxFrameBytes, 'maxFrameBytes must be > 4');
    }
    const max = opts.maxConnNum ?? DEFAULT_MAX_CONN_NUM;
    this.#maxConnNum = max > 0 ? max : DEFAULT_MAX_CONN_NUM;
    this.#budget = { ...DEFAULT_WRITE_QUEUE, ...opts.writeQueue };
    for (const key of ['maxMessages', 'maxBytes'] as const) {
      const v = this.#budget[key];
      if (!Number.isInteger(v) || v <= 0) {
        throw new ConfigError(`${OPTION_PREFIX}.writeQueue.${key}`, v, `writeQueue.${key} must be > 0, got ${v}`);
      }
    }
    const { keyFile, certFile } = opts.tls ?? {};
    if (Boolean(keyFile) !== Boolean(certFile)) {
      throw new ConfigError(`${OPTION_PREFIX}.keyFile`, keyFile, 'keyFile and certFile must be set together');
    }
    this.#nextCid = opts.firstCid ?? 1;
    this.#reportError = opts.reportError ?? defaultReportError;
    this.#opts = opts;
  }

  get stats(): TcpTransportStats {
    return { connections: this.#connections.size, refused: { ...this.#refused }, slowConsumers: this.#slowConsumers };
  }

  get isTls(): boolean {
    return Boolean(this.#opts.tls?.keyFile && this.#opts.tls.certFile);
  }

  /** The bound address once listen() resolved. */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  async listen(handler: ConnectionHandler): Promise<{ host: string; port: number }> {
    if (this.#isListenCalled || this.#closing !== undefined) {
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, 'tcp transport: listen() called twice or after close()');
    }
    this.#isListenCalled = true;
    this.#shared = {
      handler,
      writeQueue: this.#budget,
      closeTimeoutMs: this.#opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      maxFrameBytes: this.#opts.maxFrameBytes,
      littleEndian: this.#opts.byteOrder === 'little',
      reportError: this.#reportError,
      onEnd: (c) => this.#connections.delete(c),
      onOverflow: () => {
        this.#slowConsumers++;
      },
    };
    const tls = this.isTls ? await readTlsFiles(this.#opts.tls, OPTION_PREFIX) : undefined;
    if (this.#closing !== undefined) throw new ClosedError('tcp transport: close() was called while listen() started');
    const server =
      tls === undefined
        ? createNetServer({ noDelay: true }, this.#onSocket)
        : createTlsServer({ ...tls, noDelay: true }, this.#onSocket);
    // A TLS handshake that fails never becomes a connection; it is counted, not thrown.
    server.on('tlsClientError', () => this.#count('bad-handshake'));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        const where = `${this.#opts.host ?? '*'}:${this.#opts.port}`;
        reject(new UnavailableError(`tcp transport: cannot listen on ${where}`, { cause: err }));
      };
      const onClose = (): void => reject(new ClosedError('tcp transport: close() was called while listen() started'));
      server.once('error', onError);
      server.once('close', onClose);
      server.listen({ port: this.#opts.port, host: this.#opts.host }, () => {
        server.off('error', onError);
        server.off('close', onClose);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.#reportError(err, 'tcp server'));
    const addr = server.address() as AddressInfo;
    this.#address = { host: addr.address, port: addr.port };
    return this.#address;
  }

  refuseNew(): void {
    this.#isRefusingNew = true;
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeOnce(): Promise<void> {
    this.#isRefusingNew = true;
    const server = this.#server;
    const { serverClosed, ended } = stopListener(server, this.#connections);
    await ended;
    await serverClosed;
  }

  #onSocket = (socket: Socket): void => {
    socket.on('error', () => {}); // a reset before the connection owns the socket must not crash us
    const shared = this.#shared;
    let refusal: string | undefined;
    if (this.#isRefusingNew || shared === undefined) refusal = RefusalReason.CLOSING;
    else if (this.#connections.size >= this.#maxConnNum) refusal = RefusalReason.MAX_CONN;
    if (refusal !== undefined || shared === undefined) {
      this.#count(refusal ?? RefusalReason.CLOSING);
      socket.destroy();
      return;
    }
    const conn = new TcpConnection(this.#nextCid++, normalizeIp(socket.remoteAddress), socket, shared);
    this.#connections.add(conn);
    try {
      shared.handler.open(conn);
    } catch (err) {
      this.#reportError(err, `connection ${conn.cid}: handler.open`);
      conn.terminate();
    }
  };

  #count(reason: string): void {
    this.#refused[reason] = (this.#refused[reason] ?? 0) + 1;
  }
}
