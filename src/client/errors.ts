/**
 * Errors the client raises. Each one is a DuetError with a stable code from src/errors.ts, so callers can branch
 * on `code` (or `instanceof`) and find the root cause in `cause` (due-client-ts rejected with `undefined`).
 * No new codes: client failures map onto CLOSED, TIMEOUT, UNAVAILABLE and ILLEGAL_OPERATION.
 */
import { ClosedError, DuetError, ErrorCode, TimeoutError, UnavailableError } from '../errors.js';

/** send() or request() while the socket is not open (connecting, reconnecting, closed). Code DUET_ERR_CLOSED. */
export class NotOpenError extends ClosedError {
  readonly state: string;
  constructor(operation: string, state: string) {
    super(`client ${operation}() needs an open connection, state is ${state}`);
    this.name = 'NotOpenError';
    this.state = state;
  }
}

/**
 * The connection ended while a request was pending (or close() was called). `wsCode`/`reason` are the WebSocket
 * close code and reason; 4001 means the client gave up on a silent server (liveness). Code DUET_ERR_CLOSED.
 */
export class ConnectionClosedError extends ClosedError {
  readonly wsCode: number;
  readonly reason: string;
  constructor(wsCode: number, reason: string, options?: ErrorOptions) {
    super(`connection closed (code ${wsCode}${reason === '' ? '' : `, ${reason}`})`, options);
    this.name = 'ConnectionClosedError';
    this.wsCode = wsCode;
    this.reason = reason;
  }
}

/** No response within the request's timeout; the request was removed from the pending table. Code DUET_ERR_TIMEOUT. */
export class RequestTimeoutError extends TimeoutError {
  readonly route: number;
  readonly seq: number;
  readonly timeoutMs: number;
  constructor(route: number, seq: number, timeoutMs: number) {
    super(`request on route ${route} (seq ${seq}) got no response within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
    this.route = route;
    this.seq = seq;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Opening the socket failed: the first connect(), or the last reconnect attempt when `reconnect.maxAttempts` ran out.
 * `cause` holds the socket's error event or close details. Code DUET_ERR_UNAVAILABLE.
 */
export class ConnectError extends UnavailableError {
  readonly url: string;
  readonly attempts: number;
  constructor(url: string, attempts: number, message: string, options?: ErrorOptions) {
    super(`could not connect to ${url}: ${message}`, options);
    this.name = 'ConnectError';
    this.url = url;
    this.attempts = attempts;
  }
}

/**
 * A call the current configuration cannot serve: request() with packet.seqBytes 0 (responses carry no seq, so they
 * cannot be matched), every seq of a route already pending, or an invalid close code. Code DUET_ERR_ILLEGAL_OPERATION.
 */
export class ClientUsageError extends DuetError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.ILLEGAL_OPERATION, message, options);
    this.name = 'ClientUsageError';
  }
}

/** A listener threw; delivered to 'error' listeners with the thrown value as `cause`. Code DUET_ERR_INTERNAL. */
export class ListenerError extends DuetError {
  readonly event: string;
  constructor(event: string, options?: ErrorOptions) {
    super(ErrorCode.INTERNAL, `a '${event}' listener threw`, options);
    this.name = 'ListenerError';
    this.event = event;
  }
}
