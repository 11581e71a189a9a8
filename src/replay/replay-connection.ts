import type { PacketCodec } from '../packet/codec.js';
import type { ReplayPacket } from './replay-diff.js';

/**
 * One replayed client connection, as the replay core needs it. The WebSocket implementation lives outside the core
 * (src/cli/ws-replay-connection.ts), so src/replay imports no socket library (docs/contributing.md).
 */
export interface ReplayConnection {
  /** The server's data packets, in arrival order (bodies copied). */
  readonly received: ReplayPacket[];
  heartbeats: number;
  undecodable: number;
  /** Set once the socket has closed. */
  closeCode: number | undefined;
  closeReason: string;
  readonly isOpen: boolean;
  /** false when the socket is no longer open (the server closed it). */
  send(bytes: Uint8Array): boolean;
  /** Resolves when `count` data packets have arrived, the socket closed, or `timeoutMs` passed; true if arrived. */
  waitFor(count: number, timeoutMs: number): Promise<boolean>;
  /** Closes gracefully and resolves when the socket has ended. */
  close(timeoutMs?: number): Promise<void>;
}

/** Opens one connection to `url`; rejects with a readable error when the upgrade fails. */
export type ReplayConnector = (url: string, codec: PacketCodec) => Promise<ReplayConnection>;
