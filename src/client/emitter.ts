import { ClientUsageError, ListenerError } from './errors.js';
import type { Reply } from './pending.js';

/** A push (seq 0) or any data packet that is not a response. `body` is the client's own copy. */
export type Push = Reply;

export interface CloseInfo {
  /** WebSocket close code; 1006 when the socket dropped without one, 4001 when the client gave up on a silent server. */
  readonly code: number;
  readonly reason: string;
  /** True when the client will try to reconnect ('reconnecting' follows); false when it is done. */
  readonly willReconnect: boolean;
}

export interface HeartbeatInfo {
  /** Server wall clock in ms since the epoch (floored), when the server sends its time (packet.heartbeatTime). */
  readonly timeMs: number | undefined;
  /** The same time in ns, exact (due sends i64 ns; due-client-ts lost ~100 ns converting it to a number). */
  readonly timeNs: bigint | undefined;
}

/** Event name → payload. Listeners get exactly this type. */
export interface ClientEvents {
  /** The socket opened; `isReconnect` is true after an automatic reconnect. */
  open: { readonly isReconnect: boolean };
  close: CloseInfo;
  /** Errors with no caller to reject: malformed server frames, a listener that threw, giving up on reconnecting. */
  error: Error;
  push: Push;
  heartbeat: HeartbeatInfo;
  /** A reconnect attempt is scheduled `delayMs` from now; `attempt` counts from 1 per lost connection. */
  reconnecting: { readonly attempt: number; readonly delayMs: number };
  /** The gate gave the session back after a reconnect (issue 11); `replayed` pushes missed meanwhile follow. */
  resumed: { readonly uid: number; readonly replayed: number };
  /** The gate refused to resume (expired, forged, lost): the connection continues as a new, unbound session. */
  resumeFailed: { readonly error: string };
}
export type ClientEventName = keyof ClientEvents;
export type Listener<K extends ClientEventName> = (payload: ClientEvents[K]) => void;

const EVENT_NAMES: readonly ClientEventName[] = [
  'open',
  'close',
  'error',
  'push',
  'heartbeat',
  'reconnecting',
  'resumed',
  'resumeFailed',
];

/**
 * A typed listener table. emit() never throws: a listener that throws is reported to 'error' listeners as a
 * ListenerError (its own throw is dropped there, so one bad error listener cannot loop).
 */
export class ClientEmitter {
  readonly #listeners: { [K in ClientEventName]: Set<Listener<K>> } = {
    open: new Set(),
    close: new Set(),
    error: new Set(),
    push: new Set(),
    heartbeat: new Set(),
    reconnecting: new Set(),
    resumed: new Set(),
    resumeFailed: new Set(),
  };

  /** Adds a listener; returns a function that removes it (safe to call twice). */
  on<K extends ClientEventName>(event: K, listener: Listener<K>): () => void {
    const set: Set<Listener<K>> | undefined = this.#listeners[event];
    if (set === undefined) {
      throw new ClientUsageError(`unknown client event '${String(event)}', expected one of ${EVENT_NAMES.join(', ')}`);
    }
    if (typeof listener !== 'function') throw new ClientUsageError(`listener for '${event}' must be a function`);
    // A wrapper per registration, so registering the same function twice needs two unsubscribes, like DOM events.
    const entry: Listener<K> = (payload) => listener(payload);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  listenerCount(event: ClientEventName): number {
    return this.#listeners[event].size;
  }

  emit<K extends ClientEventName>(event: K, payload: ClientEvents[K]): void {
    const set: Set<Listener<K>> = this.#listeners[event];
    if (set.size === 0) return;
    // Copied so a listener may unsubscribe (or subscribe) while we iterate.
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (err) {
        if (event !== 'error') this.emit('error', new ListenerError(event, { cause: err }));
      }
    }
  }
}
