/**
 * The gate's WebSocket listener: ws in noServer mode on node:http (or node:https when keyFile and certFile are set).
 * Admission runs on the raw 'upgrade' event so refused clients get an HTTP status before any handshake
 * (docs/protocol.md, Transport; due upgrades first and then drops). No ws type leaves src/network.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { ClosedError, DuetError, ErrorCode, type ErrorReporter, UnavailableError } from '../errors.js';
import { type AdmissionPolicy, admit, RefusalReason } from './admission.js';
import { CloseQueue } from './close-queue.js';
import { type ConnectionShared, type WriteQueueBudget, WsConnection } from './connection.js';
import { HandshakeGuard, socketKey } from './handshake-guard.js';
import { readTlsFiles, stopListener } from './listener.js';
import { type EndListener, endListenersAddedSince, takeOverPeerEnd } from './peer-end.js';
import { RefusalLog } from './refusal-log.js';
import type { ConnectionHandler, Refusal, Transport, TransportStats } from './transport.js';
import { type DataListener, type FrameLimits, WsFrameReader } from './ws-frame-reader.js';
import { checkOptions, OPTION_PREFIX, type WsTransportOptions } from './ws-transport-options.js';

export type { WsTransportOptions } from './ws-transport-options.js';

export interface WsTransportStats extends TransportStats {
  /** Connections closed because their outbound budget overflowed (issue 10). */
  slowConsumers: number;
  /** Sockets accepted and not yet upgraded (or serving plain HTTP). */
  pending: number;
  /** Connections whose receive stream the frame reader handed to ws: a close or text frame, a protocol error. */
  handedToWs: number;
}

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

/**
 * A due packet is one small message; Go clients split at their 4 KiB write buffer, so 1024 fragments is generous,
 * while ws's default (16k) lets a client make us parse many empty fragments per message.
 */
const MAX_FRAGMENTS = 1024;

export function createWsTransport(opts: WsTransportOptions): WsTransport {
  return new WsTransport(opts);
}

export class WsTransport implements Transport {
  readonly #opts: WsTransportOptions;
  readonly #policy: AdmissionPolicy;
  readonly #budget: WriteQueueBudget;
  readonly #closeTimeoutMs: number;
  readonly #reportError: ErrorReporter;
  readonly #refusalLog: RefusalLog | undefined;
  readonly #guard: HandshakeGuard;
  readonly #handshakeTimeoutMs: number;
  readonly #connections = new Set<WsConnection>();
  /** Live connections per remote IP (an upgrade completes synchronously, so nothing is in flight). */
  readonly #perIp = new Map<string, number>();
  readonly #refused: Record<string, number> = {};
  #slowConsumers = 0;
  #handedToWs = 0;
  /** A ws release that registers its FIN handling differently is reported once, not once per connection. */
  #isPeerEndWarned = false;
  /** Likewise for a release whose upgrade does not add exactly one socket 'data' listener (ws-frame-reader.ts). */
  #isReaderWarned = false;
  #frameLimits: FrameLimits | undefined;
  #nextCid = 1;
  #isRefusingNew = false;
  #isListenCalled = false;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  /** Set by listen(): the handler plus the per-connection settings every connection points to. */
  #shared: ConnectionShared | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: WsTransportOptions) {
    const checked = checkOptions(opts);
    this.#policy = checked.policy;
    this.#budget = checked.budget;
    this.#closeTimeoutMs = checked.closeTimeoutMs;
    this.#reportError = opts.reportError ?? defaultReportError;
    this.#refusalLog = opts.log === undefined ? undefined : new RefusalLog(opts.log);
    this.#handshakeTimeoutMs = checked.handshake.timeoutMs;
    this.#guard = new HandshakeGuard(checked.handshake, (reason, ip) => {
      this.#count(reason);
      this.#refusalLog?.note(reason, ip, undefined);
    });
    this.#opts = opts;
  }

  get stats(): WsTransportStats {
    return {
      connections: this.#connections.size,
      refused: { ...this.#refused },
      slowConsumers: this.#slowConsumers,
      pending: this.#guard.size,
      handedToWs: this.#handedToWs,
    };
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
      closeQueue: new CloseQueue((err) => this.#reportError(err, 'handler.closed')),
    };
    const tls = this.isTls ? await readTlsFiles(this.#opts.tls, OPTION_PREFIX) : undefined;
    if (this.#closing !== undefined) throw new ClosedError('ws transport: close() was called while listen() started');
    const server = tls === undefined ? createHttpServer() : createHttpsServer(tls);
    this.#server = server;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.#opts.maxPayload,
      maxFragments: MAX_FRAGMENTS,
    });
    this.#frameLimits = {
      maxPayload: this.#opts.maxPayload,
      maxFragments: MAX_FRAGMENTS,
      onHandOver: () => {
        this.#handedToWs++;
      },
    };
    server.on('connection', this.#onConnection);
    server.on('request', this.#onRequest);
    server.on('upgrade', this.#onUpgrade);
    // The guard reaps at handshakeTimeout; Node's own checks (run only every 30 s) are a second line.
    server.headersTimeout = this.#handshakeTimeoutMs;
    server.requestTimeout = this.#handshakeTimeoutMs;
    this.#guard.start();
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
    const { serverClosed, ended } = stopListener(server, this.#connections);
    // keep-alive HTTP sockets (httpHandler traffic) and sockets not yet upgraded would hold server.close() open
    this.#guard.stop();
    this.#guard.destroyAll();
    this.#refusalLog?.close();
    server?.closeAllConnections();
    await ended;
    await serverClosed;
    this.#wss?.close();
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

  /** Every TCP socket, before any byte is read: bounded and given a deadline until it upgrades. */
  #onConnection = (socket: Socket): void => {
    socket.on('error', ignoreSocketError);
    const ip = normalizeIp(socket.remoteAddress);
    const reason = socket.remoteAddress === undefined ? RefusalReason.CLOSING : this.#guard.accept(socket, ip);
    if (reason === undefined) return;
    this.#count(reason);
    const status = reason === RefusalReason.MAX_HANDSHAKE_PER_IP ? 429 : 503;
    this.#refusalLog?.note(reason, ip, status);
    // Under TLS the first bytes must be a TLS handshake, so a plain HTTP answer would be noise: just close.
    if (this.isTls) socket.destroy();
    else writeRefusal(socket, { status, reason });
  };

  #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', ignoreSocketError);
    this.#guard.upgraded(socketKey(req.socket));
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
      this.#refuse(socket, refusal, isHookRefusal ? RefusalReason.UPGRADE_HOOK : refusal.reason, ip);
      return;
    }
    const wss = this.#wss as WebSocketServer;
    let isUpgraded = false;
    const endListenersBefore = socket.listenerCount('end');
    const dataListenersBefore = socket.listenerCount('data');
    // without verifyClient ws completes (or aborts with 400) synchronously, so the slot cannot be double-booked
    wss.handleUpgrade(req, socket, head, (ws) => {
      isUpgraded = true;
      const wsDataListeners = WsFrameReader.addedSince(socket, dataListenersBefore);
      this.#open(ws, socket, ip, endListenersAddedSince(socket, endListenersBefore), wsDataListeners);
    });
    if (!isUpgraded) this.#count('bad-handshake');
  };

  #open(
    ws: WebSocket,
    socket: Duplex,
    ip: string,
    wsEndListeners: readonly EndListener[],
    wsDataListeners: readonly DataListener[],
  ): void {
    const conn = new WsConnection(this.#nextCid++, ip, ws, socket, this.#shared as ConnectionShared);
    // ws's 'head' bytes were unshifted onto the socket and are emitted on a later tick, so the reader sees them too
    const limits = this.#frameLimits as FrameLimits;
    if (!WsFrameReader.takeOver(socket, wsDataListeners, conn, limits) && !this.#isReaderWarned) {
      this.#isReaderWarned = true;
      this.#reportError(
        new Error(`ws added ${wsDataListeners.length} 'data' listeners, expected 1: frames are left to ws`),
        'frame-reader takeover',
      );
    }
    if (!takeOverPeerEnd(socket, wsEndListeners, WsConnection.onPeerEnd) && !this.#isPeerEndWarned) {
      this.#isPeerEndWarned = true;
      this.#reportError(
        new Error(`ws added ${wsEndListeners.length} 'end' listeners, expected 1: peer FINs are left to ws`),
        'peer-end takeover',
      );
    }
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
  #refuse(socket: Duplex, refusal: Refusal, statsKey: string, ip: string): void {
    this.#count(statsKey);
    this.#refusalLog?.note(statsKey, ip, refusal.status);
    writeRefusal(socket, refusal);
  }

  #count(reason: string): void {
    this.#refused[reason] = (this.#refused[reason] ?? 0) + 1;
  }
}

/** A plain HTTP answer, then the socket is closed (before any WebSocket handshake). */
function writeRefusal(socket: Duplex, refusal: Refusal): void {
  const body = refusal.reason;
  const extra = refusal.status === 405 ? 'Allow: GET\r\n' : '';
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n` +
      `Connection: close\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
