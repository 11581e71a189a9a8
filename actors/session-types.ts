/** Types of the session machine (actors/session.ts). No I/O here: the gate supplies effects by action name. */

export interface SessionContext {
  readonly cid: number;
  /** 0 while unbound (docs/protocol.md, Ids). */
  uid: number;
  /** Set when the session ends: the code and reason the socket was (or will be) closed with. */
  closeCode: number;
  closeReason: string;
  /** The gate keeps bound sessions it loses abnormally for a resume window (issue 11). */
  readonly resumable: boolean;
}

export interface SessionInput {
  cid: number;
  /** Resume is on for this gate (session.resume.window > 0). */
  resumable?: boolean;
}

export type SessionEvent =
  /** Admission passed and the session is registered: the connect event fires. */
  | { type: 'session.opened' }
  /** A node bound the session to `uid` (gate op bind). */
  | { type: 'node.bound'; uid: number }
  /** A node unbound the session's uid. */
  | { type: 'node.unbound' }
  /** Another session (this gate or another) bound the same uid: unbind, then close gracefully. */
  | { type: 'session.displaced'; code: number; reason: string }
  /** Kick: force closes at once; graceful flushes queued writes, then sends a close frame. */
  | { type: 'session.kicked'; force: boolean; code: number; reason: string }
  /** The gate-wide sweep found the connection silent for more than 2 × heartbeatInterval. */
  | { type: 'heartbeat.expired' }
  /** The gate-wide sweep found no bound uid within authorizeTimeout. */
  | { type: 'authorize.expired' }
  /** The socket ended, for any reason. */
  | { type: 'socket.closed'; code: number; reason: string }
  /** A suspended session got a new connection on this gate (same cid), or a fresh one took over a session from
   * another gate (`uid` set): the resume event fires, not connect/disconnect. */
  | { type: 'session.resumed'; uid?: number }
  /** The resume window of a suspended session ended. */
  | { type: 'suspend.expired' }
  /** Another gate took this suspended session over: it ends without a disconnect event. */
  | { type: 'session.handedOver' };

export type SessionEventType = SessionEvent['type'];

export interface CloseParams {
  code: number;
  reason: string;
}

/**
 * The machine's effects by action name, with the params each takes (undefined = none). The machine declares exactly
 * these (actors/session.ts); the gate implements exactly these (src/gate/session-effects.ts), each through a mapped
 * type, so an effect added on one side and not the other is a compile error.
 */
export interface SessionEffectParams {
  /** Fire the connect event to nodes that registered it. */
  fireConnect: undefined;
  /** Fire the reconnect event (due: on every successful bind). */
  fireReconnect: undefined;
  /** Fire the disconnect event, once, as the session ends. */
  fireDisconnect: undefined;
  /** Fire the resume event: the session continues on a new connection. */
  fireResume: undefined;
  /** Start the resume window of a suspended session. */
  armSuspend: undefined;
  /** Drop a handed-over session from this gate's tables, quietly (no event, no locator change). */
  forget: undefined;
  /** Start (or restart, after an unbind) the authorize deadline. */
  armAuthorize: undefined;
  clearAuthorize: undefined;
  /** Flush queued writes, then send a WebSocket close frame. */
  closeGracefully: CloseParams;
  /** Destroy the socket now. */
  terminateSocket: undefined;
  /** Drop the session from the gate's tables and release its uid (locator compare-and-delete). */
  release: undefined;
}

export type SessionEffectName = keyof SessionEffectParams;
