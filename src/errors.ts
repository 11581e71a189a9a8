/**
 * Every error duet raises carries a stable code from this table. docs/errors.md lists the same
 * codes; test/unit/errors.test.ts checks both directions so neither drifts.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'DUET_ERR_CONFIG_INVALID',
  PACKET_OPTIONS: 'DUET_ERR_PACKET_OPTIONS',
  PACKET_SHORT: 'DUET_ERR_PACKET_SHORT',
  PACKET_SIZE_MISMATCH: 'DUET_ERR_PACKET_SIZE_MISMATCH',
  PACKET_TOO_LARGE: 'DUET_ERR_PACKET_TOO_LARGE',
  PACKET_ROUTE_OVERFLOW: 'DUET_ERR_PACKET_ROUTE_OVERFLOW',
  PACKET_SEQ_OVERFLOW: 'DUET_ERR_PACKET_SEQ_OVERFLOW',
  ENVELOPE_DECODE: 'DUET_ERR_ENVELOPE_DECODE',
  ROUTE_NOT_FOUND: 'DUET_ERR_ROUTE_NOT_FOUND',
  ROUTE_ILLEGAL: 'DUET_ERR_ROUTE_ILLEGAL',
  ROUTE_REGISTERED: 'DUET_ERR_ROUTE_REGISTERED',
  SESSION_NOT_FOUND: 'DUET_ERR_SESSION_NOT_FOUND',
  UID_INVALID: 'DUET_ERR_UID_INVALID',
  UNAVAILABLE: 'DUET_ERR_UNAVAILABLE',
  TIMEOUT: 'DUET_ERR_TIMEOUT',
  CLOSED: 'DUET_ERR_CLOSED',
  NO_RESPONDERS: 'DUET_ERR_NO_RESPONDERS',
  ILLEGAL_OPERATION: 'DUET_ERR_ILLEGAL_OPERATION',
  INTERNAL: 'DUET_ERR_INTERNAL',
  CAPTURE_CORRUPT: 'DUET_ERR_CAPTURE_CORRUPT',
  NO_INSTANCE: 'DUET_ERR_NO_INSTANCE',
  CANCELLED: 'DUET_ERR_CANCELLED',
  REMOTE: 'DUET_ERR_REMOTE',
  MAILBOX_FULL: 'DUET_ERR_MAILBOX_FULL',
  ACTOR_NOT_FOUND: 'DUET_ERR_ACTOR_NOT_FOUND',
  BUS_PAYLOAD_TOO_LARGE: 'DUET_ERR_BUS_PAYLOAD_TOO_LARGE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

import { CloseCode } from '../actors/close-codes.js';

/** WebSocket close codes: one table, beside the session machine that assigns most of them. */
export { CloseCode };

export interface DuetErrorOptions extends ErrorOptions {
  closeCode?: CloseCode;
}

/** Base class: `code` is stable and documented, `cause` keeps the root error. */
export class DuetError extends Error {
  readonly code: ErrorCode;
  readonly closeCode: CloseCode | undefined;
  constructor(code: ErrorCode, message: string, options?: DuetErrorOptions) {
    super(message, options);
    this.name = 'DuetError';
    this.code = code;
    this.closeCode = options?.closeCode;
  }
}

/** Bad configuration: names where the value came from and what is allowed. */
export class ConfigError extends DuetError {
  readonly path: string;
  readonly value: unknown;
  constructor(path: string, value: unknown, message: string, options?: ErrorOptions) {
    super(ErrorCode.CONFIG_INVALID, message, options);
    this.name = 'ConfigError';
    this.path = path;
    this.value = value;
  }
}

/** Client bytes that break the wire rules (docs/protocol.md). Returned as a value on the hot path, never thrown there. */
export class ProtocolError extends DuetError {
  constructor(code: ErrorCode, message: string, options?: DuetErrorOptions) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
}

/** An adapter (NATS, Redis, Consul) is down or refused the call. */
export class UnavailableError extends DuetError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.UNAVAILABLE, message, options);
    this.name = 'UnavailableError';
  }
}

/** Created when the wait starts, so the stack shows the caller (nats.js util.ts timeout()). */
export class TimeoutError extends DuetError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.TIMEOUT, message, options);
    this.name = 'TimeoutError';
  }
}

/** Called after stop()/close(). */
export class ClosedError extends DuetError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.CLOSED, message, options);
    this.name = 'ClosedError';
  }
}

/** A service call or an actor call failed at the callee: `remoteCode` and `remoteMessage` are the callee's own. */
export class RemoteError extends DuetError {
  readonly remoteCode: string;
  readonly remoteMessage: string;
  constructor(remoteCode: string, remoteMessage: string, where: string) {
    super(ErrorCode.REMOTE, `${where} failed at the callee: ${remoteCode}: ${remoteMessage}`);
    this.name = 'RemoteError';
    this.remoteCode = remoteCode;
    this.remoteMessage = remoteMessage;
  }
}

/** One named sink for fire-and-forget failures, so none is silently lost. */
export type ErrorReporter = (err: unknown, context: string) => void;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
