import {
  ClosedConnectionError,
  DrainingConnectionError,
  InvalidArgumentError,
  TimeoutError as NatsTimeoutError,
  NoRespondersError,
  RequestError,
} from '@nats-io/transport-node';
import { ClosedError, DuetError, ErrorCode, errorMessage, type TimeoutError, UnavailableError } from '../errors.js';

/** nats.js wraps errors (RequestError → cause NoRespondersError...): the first `ctor` down the cause chain. */
export function findCause<T extends Error>(err: unknown, ctor: abstract new (...args: never[]) => T): T | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ctor) return e;
  }
  return undefined;
}

export function hasCause<T extends Error>(err: unknown, ctor: abstract new (...args: never[]) => T): boolean {
  return findCause(err, ctor) !== undefined;
}

/** The connection is closed or draining: an expected race at shutdown, not a bug. */
export function isClosedCause(err: unknown): boolean {
  return hasCause(err, ClosedConnectionError) || hasCause(err, DrainingConnectionError);
}

export interface RequestErrorContext {
  isClosed: boolean;
  /** The connection was down at some point during the wait (or still is). */
  wasDisconnected: boolean;
}

/**
 * Maps a nats.js request failure to duet's typed errors, keeping the nats error as `cause`. `timeoutErr` was
 * created when the request started, so its stack shows the caller; it is returned (with its cause set) on timeout.
 */
export function requestError(err: unknown, subject: string, timeoutErr: TimeoutError, ctx: RequestErrorContext): Error {
  if (hasCause(err, NoRespondersError) || (err instanceof RequestError && err.isNoResponders())) {
    return new DuetError(ErrorCode.NO_RESPONDERS, `no responders on ${subject}`, { cause: err });
  }
  if (isClosedCause(err) || ctx.isClosed) {
    return new ClosedError(`bus closed during a request on ${subject}`, { cause: err });
  }
  if (hasCause(err, NatsTimeoutError)) {
    timeoutErr.cause = err;
    if (ctx.wasDisconnected) {
      return new UnavailableError(`nats connection lost during a request on ${subject}`, { cause: timeoutErr });
    }
    return timeoutErr;
  }
  if (hasCause(err, InvalidArgumentError)) {
    return new DuetError(ErrorCode.ILLEGAL_OPERATION, `bad request on ${subject}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return new UnavailableError(`request on ${subject} failed: ${errorMessage(err)}`, { cause: err });
}
