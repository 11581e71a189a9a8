import type { Decoder } from '../body-codec.js';

/** One incoming call, as a method handler sees it. */
export interface ServiceCall {
  readonly service: string;
  readonly method: string;
  /** The calling node's id. */
  readonly caller: string;
  /** When the caller gives up (ms since the epoch, this host's clock): the caller's timeout, carried over. */
  readonly deadline: number;
  /** Aborts at the deadline, when the caller cancels, or when this node stops without waiting. */
  readonly signal: AbortSignal;
  /** The request body; valid until the handler settles. */
  readonly body: Uint8Array;
  /** Decodes the body with the node's codec (json), or with `decoder` (a protobufjs Type for proto). */
  parse<T>(decoder?: Decoder<T>): T;
}

/**
 * A method: its return value is the reply body (raw bytes and strings pass through, other values use the node's
 * codec). A throw reaches the caller as RemoteError with the thrown error's `code` (ServiceError gives your own).
 */
export type MethodHandler = (call: ServiceCall) => unknown;

export type ServiceMethods = Readonly<Record<string, MethodHandler>>;

export interface CallOptions {
  /** Default: the node's `cluster.node.callTimeout`. The callee sees the same deadline. */
  timeoutMs?: number;
  /** Aborting rejects the call with DUET_ERR_CANCELLED and tells the callee (its call.signal aborts). */
  signal?: AbortSignal;
}

/** What a call resolved with. */
export interface ServiceReply {
  readonly body: Uint8Array;
  /** The id of the node that answered. */
  readonly from: string;
  parse<T>(decoder?: Decoder<T>): T;
  text(): string;
}

/** An application error with a code of its own: the caller gets it as RemoteError.remoteCode. */
export class ServiceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ServiceError';
    this.code = code;
  }
}

/** Counters the metrics module and tests read. */
export interface ServiceCounters {
  /** Calls made by this node, and those of them that failed (any reason). */
  calls: number;
  callErrors: number;
  /** Calls this node served, those whose method threw, and those not answered because their deadline passed. */
  served: number;
  servedErrors: number;
  expired: number;
  cancelled: number;
}

/** Called after every call this node made: outcome "ok" or the error code. */
export type CallObserver = (service: string, method: string, outcome: string, seconds: number) => void;
