/**
 * The seam between the gate and the socket library (nats.js transport.ts style): no `ws` type leaks past
 * src/network/ws-transport.ts. The gate sees Connections and frames only.
 */
import type { CloseCode } from '../errors.js';
import type { PreparedFrame } from './prepared-frame.js';

/** Outbound priority: control (heartbeats) before responses before pushes. */
export type Lane = 'control' | 'response' | 'push';
export type SendResult = 'sent' | 'queued' | 'overflow' | 'closed';

export interface Connection {
  /** Positive, unique per transport (= per gate process), never reused. */
  readonly cid: number;
  /** Remote IP address (IPv4 or IPv6 text). */
  readonly remote: string;
  /**
   * Writes one binary frame; 'overflow' means the outbound budget is exceeded and the connection is being closed
   * (slow consumer). A PreparedFrame (fan-out) is written as its shared, already framed bytes.
   */
  send(frame: Uint8Array | PreparedFrame, lane?: Lane): SendResult;
  /**
   * Graceful: stops reading, flushes queued frames, sends a WebSocket close frame with `code`/`reason`, resolves when
   * the socket has ended (or after the close deadline, then it terminates). Safe to call twice.
   */
  close(code: CloseCode | number, reason?: string): Promise<void>;
  /** Force: destroys the socket at once. Safe to call twice. */
  terminate(): void;
  /**
   * Stops reading from the socket (the kernel holds what the client sends; its TCP window pushes back) until
   * resumeReading(). The gate's login admission uses it during a storm. No effect once a close has started.
   */
  pauseReading(): void;
  resumeReading(): void;
  /** Bytes waiting to be written (ours plus the socket's). */
  readonly bufferedBytes: number;
  /** Packet bytes received in binary frames so far (framing not counted): `duet sessions`' bytes in. */
  readonly bytesIn: number;
  /** Packet bytes handed to the socket so far (framing not counted; queued frames count once written). */
  readonly bytesOut: number;
}

export interface ConnectionHandler {
  /** A connection was admitted and upgraded. */
  open(c: Connection): void;
  /** One binary frame (text frames are dropped by the transport, docs/protocol.md, Transport). The view is valid only during the call. */
  frame(c: Connection, bytes: Uint8Array): void;
  /** The socket ended (any reason), exactly once per connection. */
  closed(c: Connection, code: number, reason: string): void;
}

/** Why an upgrade was refused before the 101 (docs/protocol.md, Transport). */
export interface Refusal {
  status: 403 | 404 | 405 | 429 | 503;
  reason: string;
}

export interface TransportStats {
  connections: number;
  /** Refused upgrades and sockets closed before their upgrade, by reason (RefusalReason values). */
  refused: Record<string, number>;
  /** Sockets accepted and not yet upgraded. */
  pending?: number;
}

export interface Transport extends AsyncDisposable {
  /** Starts listening; resolves with the bound address. */
  listen(handler: ConnectionHandler): Promise<{ host: string; port: number }>;
  /** preClose: new upgrades get 503; open connections stay. */
  refuseNew(): void;
  /** Closes the listener and terminates every connection still open. Safe to call twice. */
  close(): Promise<void>;
  readonly stats: TransportStats;
}
