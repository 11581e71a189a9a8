/**
 * The gate's WebSocket listener: ws in noServer mode on node:http (or node:https when keyFile and certFile are set).
 * Admission runs on the raw 'upgrade' event so refused clients get an HTTP status before any handshake
 * (PROTOCOL.md Admission; due upgrades first and then drops, DUE-REFERENCE.md 2.3). No ws type leaves src/network.
 */
import { readFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { ClosedError, ConfigError, DuetError, ErrorCode, type ErrorReporter, UnavailableError } from '../errors.js';
import {
  type AdmissionPolicy,
  admit,
  DEFAULT_MAX_CONN_NUM,
  DEFAULT_ORIGINS,
  DEFAULT_WS_PATH,
  RefusalReason,
} from './admission.js';
import {
  type ConnectionShared,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_WRITE_QUEUE,
  type WriteQueueBudget,
  WsConnection,
} from './connection.js';
import type { ConnectionHandler, Refusal, Transport, TransportStats } from './transport.js';

export interface WsTransportOptions {
  /** Interface to bind; default all interfaces (due's `:3553`). */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Default "/" = every path. */
  path?: string;
  /** Default ["*"]. */
  origins?: readonly string[];
  /** Default 5000; ≤ 0 means the default, as in due. */
  maxConnNum?: number;
  /** Live connections per remote IP; 0 (default) = no limit. Refused with 429. */
  maxConnPerIp?: number;
  /** Both set → https server (wss://). Exactly one set is a ConfigError. */
  tls?: { keyFile?: string; certFile?: string };
  /** Largest inbound frame in bytes (the gate passes codec.maxFrameBytes); larger frames close with 1009. */
  maxPayload: number;
  /** Outbound budget per connection; exceeding it closes with CloseCode.SLOW_CONSUMER. */
  writeQueue?: Partial<WriteQueueBudget>;
  /** Graceful close deadline (flush + close handshake), then the socket is destroyed. Default 3000. */
  closeTimeoutMs?: number;
  /** Plain HTTP requests (not upgrades). Return true when handled; otherwise the transport answers 426. */
  httpHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** due's OnUpgrade: runs after admission passed; a Refusal (usually 403) is answered instead of upgrading. */
  onUpgrade?: (req: IncomingMessage) => Refusal | undefined;
  /** Sink for exceptions thrown by the handler or hooks; default writes to stderr. */
  reportError?: ErrorReporter;
}

export interface WsTransportStats extends TransportStats {
  /** Connections closed because their outbound budget overflowed (issue 10). */
  slowConsumers: number;
}

const OPTION_PREFIX = 'network.ws.server';
const UPGRADE_HEADERS_TIMEOUT_MS = 10_000;

function defaultReportError(err: unknown, context: string): void {
  process.stderr.write(
    `duet ws-transport: ${context}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
}

/** ws removes its own error listener between handshake steps; this one keeps a reset socket from crashing us. */
function ignoreSocketError(): void {}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address, so per-IP limits see one client once. */
export function normalizeIp(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function createWsTransport(opts: WsTransportOptions): WsTransport {
  return new WsTransport(opts);
}

export class WsTransport implements Transport {
  readonly #opts: WsTransportOptions;
  readonly #policy: AdmissionPolicy;
  readonly #budget: WriteQueueBudget;
  readonly #closeTimeoutMs: number;
  readonly #reportError: ErrorReporter;
  readonly #connections = new Set<WsConnection>();
  /** Live connections per remote IP (an upgrade completes synchronously, so nothing is in flight). */
  readonly #perIp = new Map<string, number>();
  readonly #refused: Record<string, number> = {};
  #slowConsumers = 0;
  #nextCid = 1;
  #isRefusingNew = false;
  #isListenCalled = false;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  /** Set by listen(): the handler plus the per-connection settings every connection points to. */
  #shared: ConnectionShared | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: WsTransportOptions) {
    if (!Number.isInteger(opts.maxPayload) || opts.maxPayload <= 0) {
      throw new ConfigError(
        `${OPTION_PREFIX}.maxPayload`,
        opts.maxPayload,
        `maxPayload must be a positive integer, got ${opts.maxPayload}`,
      );
    }
    const maxConnNum = opts.maxConnNum ?? DEFAULT_MAX_CONN_NUM;
    const maxConnPerIp = opts.maxConnPerIp ?? 0;
    if (!Number.isInteger(maxConnPerIp) || maxConnPerIp < 0) {
      throw new ConfigError(
        `${OPTION_PREFIX}.maxConnPerIp`,
        maxConnPerIp,
        `maxConnPerIp must be an integer >= 0, got ${maxConnPerIp}`,
      );
    }
    const path = opts.path ?? DEFAULT_WS_PATH;
    if (!path.startsWith('/')) {
      throw new ConfigError(`${OPTION_PREFIX}.path`, path, `path must start with "/", got "${path}"`);
    }
    this.#policy = {
      path,
      origins: opts.origins ?? DEFAULT_ORIGINS,
      maxConnNum: maxConnNum > 0 ? maxConnNum : DEFAULT_MAX_CONN_NUM,
      maxConnPerIp,
    };
    this.#budget = { ...DEFAULT_WRITE_QUEUE, ...opts.writeQueue };
    for (const key of ['maxMessages', 'maxBytes'] as const) {
      const v = this.#budget[key];
      if (!Number.isInteger(v) || v <= 0) {
        throw new ConfigError(`${OPTION_PREFIX}.writeQueue.${key}`, v, `writeQueue.${key} must be > 0, got ${v}`);
      }
    }
    this.#closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    if (!(this.#closeTimeoutMs >= 0)) {
      throw new ConfigError(
        `${OPTION_PREFIX}.closeTimeoutMs`,
        opts.closeTimeoutMs,
        `closeTimeoutMs must be >= 0, got ${opts.closeTimeoutMs}`,
      );
    }
    const { keyFile, certFile } = opts.tls ?? {};
    if (Boolean(keyFile) !== Boolean(certFile)) {
      throw new ConfigError(`${OPTION_PREFIX}.keyFile`, keyFile, 'keyFile and certFile must be set together');
    }
    this.#reportError = opts.reportError ?? defaultReportError;
    this.#opts = opts;
  }

  get stats(): WsTransportStats {
    return { connections: this.#connections.size, refused: { ...this.#refused }, slowConsumers: this.#slowConsumers };
  }

  /** True when listening with TLS (wss://). */
  get isTls(): boolean {
    return Boolean(this.#opts.tls?.keyFile && this.#opts.tls.certFile);
  }

  /**
   * Binds and starts admitting upgrades. Rejects with ConfigError when a TLS file cannot be read, UnavailableError
   * when the port cannot be bound, ClosedError when close() came first, DuetError ILLEGAL_OPERATION when called twice.
   * Not retryable: create a new transport after a failure.
   */
  async listen(handler: ConnectionHandler): Promise<{ host: string; port: number }> {
    if (this.#isListenCalled || this.#closing !== undefined) {
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, 'ws transport: listen() called twice or after close()');
    }
    this.#isListenCalled = true;
    this.#shared = {
      handler,
      writeQueue: this.#budget,
      closeTimeoutMs: this.#closeTimeoutMs,
      reportError: this.#reportError,
      onEnd: this.#onEnd,
      onOverflow: this.#onOverflow,
    };
    const tls = this.isTls ? await this.#readTls() : undefined;
    if (this.#closing !== undefined) throw new ClosedError('ws transport: close() was called while listen() started');
    const server = tls === undefined ? createHttpServer() : createHttpsServer(tls);
    this.#server = server;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.#opts.maxPayload,
      // a due packet is one small message; Go clients split at their 4 KiB write buffer, so 1024 fragments is
      // generous, while ws's default (16k) lets a client make us parse many empty fragments per message
      maxFragments: 1024,
    });
    server.on('request', this.#onRequest);
    server.on('upgrade', this.#onUpgrade);
    // due has no handshake timeout (DUE-REFERENCE.md 2.1); a client that has not sent its upgrade request within
    // this long only holds a socket open
    server.headersTimeout = UPGRADE_HEADERS_TIMEOUT_MS;
    server.requestTimeout = UPGRADE_HEADERS_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(
          new UnavailableError(`ws transport: cannot listen on ${this.#opts.host ?? '*'}:${this.#opts.port}`, {
            cause: err,
          }),
        );
      };
      // close() during the bind: 'listening' never comes, 'close' does
      const onClose = () => reject(new ClosedError('ws transport: close() was called while listen() started'));
      server.once('error', onError);
      server.once('close', onClose);
      server.listen({ port: this.#opts.port, host: this.#opts.host }, () => {
        server.off('error', onError);
        server.off('close', onClose);
        resolve();
      });
    });
    server.on('error', (err: Error) => this.#reportError(err, 'http server'));
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  refuseNew(): void {
    this.#isRefusingNew = true;
  }

  /** Stops listening and terminates every open connection; resolves when all of them have closed. Safe to call twice. */
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
    const serverClosed =
      server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    const ended = [...this.#connections].map((c) => {
      c.terminate();
      return c.ended;
    });
    // keep-alive HTTP sockets (httpHandler traffic) would hold server.close() open
    server?.closeAllConnections();
    await Promise.all(ended);
    await serverClosed;
    this.#wss?.close();
  }

  async #readTls(): Promise<{ key: Buffer; cert: Buffer }> {
    const { keyFile = '', certFile = '' } = this.#opts.tls ?? {};
    const read = async (path: string, key: string) => {
      try {
        return await readFile(path);
      } catch (err) {
        throw new ConfigError(`${OPTION_PREFIX}.${key}`, path, `cannot read ${key} "${path}"`, { cause: err });
      }
    };
    return { key: await read(keyFile, 'keyFile'), cert: await read(certFile, 'certFile') };
  }

  #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      if (this.#opts.httpHandler?.(req, res)) return;
    } catch (err) {
      this.#reportError(err, 'httpHandler');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end();
      return;
    }
    const body = 'upgrade required';
    res.writeHead(426, {
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  };

  #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', ignoreSocketError);
    const ip = normalizeIp(req.socket.remoteAddress);
    let refusal = admit(
      this.#policy,
      { method: req.method, url: req.url, origin: req.headers.origin },
      {
        connections: this.#connections.size,
        connectionsFromIp: this.#perIp.get(ip) ?? 0,
        isRefusingNew: this.#isRefusingNew || this.#wss === undefined,
      },
    );
    const isHookRefusal = refusal === undefined && this.#opts.onUpgrade !== undefined;
    if (refusal === undefined && this.#opts.onUpgrade !== undefined) {
      try {
        refusal = this.#opts.onUpgrade(req);
      } catch (err) {
        this.#reportError(err, 'onUpgrade');
        refusal = { status: 403, reason: RefusalReason.UPGRADE_HOOK };
      }
    }
    if (refusal !== undefined) {
      this.#refuse(socket, refusal, isHookRefusal ? RefusalReason.UPGRADE_HOOK : refusal.reason);
      return;
    }
    const wss = this.#wss as WebSocketServer;
    let isUpgraded = false;
    // without verifyClient ws completes (or aborts with 400) synchronously, so the slot cannot be double-booked
    wss.handleUpgrade(req, socket, head, (ws) => {
      isUpgraded = true;
      this.#open(ws, socket, ip);
    });
    if (!isUpgraded) this.#count('bad-handshake');
  };

  #open(ws: WebSocket, socket: Duplex, ip: string): void {
    const conn = new WsConnection(this.#nextCid++, ip, ws, socket, this.#shared as ConnectionShared);
    this.#connections.add(conn);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    try {
      this.#shared?.handler.open(conn);
    } catch (err) {
      this.#reportError(err, `connection ${conn.cid}: handler.open`);
      conn.terminate();
    }
  }

  #onEnd = (conn: WsConnection): void => {
    if (!this.#connections.delete(conn)) return;
    const n = (this.#perIp.get(conn.remote) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(conn.remote);
    else this.#perIp.set(conn.remote, n);
  };

  #onOverflow = (): void => {
    this.#slowConsumers++;
  };

  /** `statsKey` keeps the stats keys bounded: a hook's reason text may carry anything. */
  #refuse(socket: Duplex, refusal: Refusal, statsKey: string): void {
    this.#count(statsKey);
    const body = refusal.reason;
    const extra = refusal.status === 405 ? 'Allow: GET\r\n' : '';
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n` +
        `Connection: close\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  #count(reason: string): void {
    this.#refused[reason] = (this.#refused[reason] ?? 0) + 1;
  }
}
