import { CloseCode, ErrorCode } from '../errors.js';
import type { Log } from '../log/types.js';
import type { Connection, ConnectionHandler } from '../network/transport.js';
import { HEADER_HEARTBEAT, type PacketCodec, SIZE_BYTES } from '../packet/codec.js';
import type { CaptureSink } from '../replay/capture-sink.js';
import type { GateCounters, MalformedReason } from './counters.js';
import type { Dispatcher } from './dispatcher.js';
import type { LoginAdmission } from './login-admission.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export type HeartbeatMechanism = 'resp' | 'tick';

/** A heartbeat packet (its header's flag), without decoding it. */
export function isHeartbeat(bytes: Uint8Array): boolean {
  return bytes.length > SIZE_BYTES && ((bytes[SIZE_BYTES] as number) & HEADER_HEARTBEAT) !== 0;
}

export interface FrameHandlerDeps {
  codec: PacketCodec;
  sessions: SessionTable;
  dispatcher: Dispatcher;
  counters: GateCounters;
  heartbeatIntervalMs: number;
  mechanism: HeartbeatMechanism;
  malformedBudget: number;
  log: Log;
  createSession(c: Connection): Session;
  isDraining(): boolean;
  capture: CaptureSink;
  gid: string;
  /** Inbound messages per second per connection (token bucket); 0 = no limit. */
  rateLimit: number;
  /** Bucket size; 0 = rateLimit. */
  rateLimitBurst: number;
  admission: LoginAdmission;
}

const MALFORMED: Record<string, MalformedReason> = {
  [ErrorCode.PACKET_SHORT]: 'short',
  [ErrorCode.PACKET_SIZE_MISMATCH]: 'size_mismatch',
  [ErrorCode.PACKET_TOO_LARGE]: 'too_large',
};

/**
 * The gate's side of the transport: one session per connection, and the hot path for frames. A data frame in
 * active.* costs a header read, a route-table lookup and a batch append; it never enters the machine.
 * Nothing here throws on client bytes (docs/protocol.md, Errors).
 */
export class FrameHandler implements ConnectionHandler {
  readonly #d: FrameHandlerDeps;
  readonly #answerHeartbeats: boolean;

  readonly #rate: number;
  readonly #burst: number;

  constructor(d: FrameHandlerDeps) {
    this.#d = d;
    this.#rate = d.rateLimit;
    this.#burst = d.rateLimitBurst > 0 ? d.rateLimitBurst : Math.max(1, d.rateLimit);
    this.#answerHeartbeats = d.mechanism === 'resp' && d.heartbeatIntervalMs > 0;
  }

  open(c: Connection): void {
    const s = this.admit(c);
    s.send({ type: 'session.opened' });
    this.#d.admission.opened(s);
  }

  /** Creates and registers the session of a new connection, still in handshake. */
  admit(c: Connection): Session {
    const s = this.#d.createSession(c);
    this.#d.sessions.add(s);
    return s;
  }

  frame(c: Connection, bytes: Uint8Array): void {
    const s = this.#d.sessions.byConn(c.cid);
    if (s !== undefined && this.account(s, bytes)) this.handle(s, bytes);
  }

  /** Liveness, counters, rate limit and capture of one inbound frame; false when it goes no further. */
  account(s: Session, bytes: Uint8Array): boolean {
    const d = this.#d;
    // docs/protocol.md, Liveness: every binary frame, valid or not, refreshes liveness.
    s.lastSeenMs = Date.now();
    d.counters.framesIn++;
    d.counters.bytesIn += bytes.length;
    if (bytes.length === 0) return false;
    if (this.#rate > 0 && !this.#take(s)) return false;
    if (d.capture.enabled) d.capture.packet('in', d.gid, s.cid, s.uid, bytes);
    return true;
  }

  /** A heartbeat is answered, a data frame goes to its node. */
  handle(s: Session, bytes: Uint8Array): void {
    if (isHeartbeat(bytes)) this.#heartbeat(s, bytes);
    else this.#data(s, bytes);
  }

  /** Token bucket refilled from the elapsed time; a connection that runs dry is closed (4005), not throttled. */
  #take(s: Session): boolean {
    const now = s.lastSeenMs;
    if (s.tokens < 0) {
      s.tokens = this.#burst;
      s.tokensAtMs = now;
    } else if (now > s.tokensAtMs) {
      s.tokens = Math.min(this.#burst, s.tokens + ((now - s.tokensAtMs) * this.#rate) / 1000);
      s.tokensAtMs = now;
    }
    if (s.tokens >= 1) {
      s.tokens -= 1;
      return true;
    }
    this.#d.counters.rateLimited++;
    if (!s.isClosed) {
      s.send({
        type: 'session.kicked',
        force: false,
        code: CloseCode.RATE_LIMITED,
        reason: `more than ${this.#rate} messages per second`,
      });
    }
    return false;
  }

  #data(s: Session, bytes: Uint8Array): void {
    const d = this.#d;
    const route = d.codec.routeOf(bytes);
    if (route === undefined) {
      this.#malformed(s, bytes);
      return;
    }
    if (!s.isActive) {
      d.counters.drops.not_active++;
      return;
    }
    const sent = d.dispatcher.dispatch(s, route, bytes);
    // a login storm is first requests: a session that was answered once is not held again (login-admission.ts)
    if (sent && !s.isEstablished && s.uid === 0 && d.codec.seqOf(bytes) !== 0) d.admission.sent(s);
  }

  #heartbeat(s: Session, bytes: Uint8Array): void {
    const d = this.#d;
    const r = d.codec.decode(bytes);
    if (!r.ok) {
      this.#malformed(s, bytes);
      return;
    }
    d.counters.heartbeatsIn++;
    if (this.#answerHeartbeats && !s.isClosed) {
      const hb = d.codec.serverHeartbeat();
      if (s.conn.send(hb, 'control') !== 'closed') {
        d.counters.framesOut++;
        d.counters.bytesOut += hb.length;
      }
    }
  }

  #malformed(s: Session, bytes: Uint8Array): void {
    const d = this.#d;
    const r = d.codec.decode(bytes);
    if (r.ok) return;
    const reason = MALFORMED[r.error.code] ?? 'other';
    d.counters.malformed[reason]++;
    if (reason === 'too_large') {
      s.send({ type: 'session.kicked', force: false, code: CloseCode.TOO_LARGE, reason: r.error.message });
      return;
    }
    s.malformed++;
    if (d.malformedBudget > 0 && s.malformed > d.malformedBudget) {
      s.send({
        type: 'session.kicked',
        force: false,
        code: CloseCode.MALFORMED_BUDGET,
        reason: `more than ${d.malformedBudget} malformed frames`,
      });
    }
  }

  closed(c: Connection, code: number, reason: string): void {
    const s = this.#d.sessions.byConn(c.cid);
    if (this.#d.capture.enabled) this.#d.capture.closed?.(this.#d.gid, c.cid, s?.uid ?? 0, code, reason);
    if (s === undefined) return;
    this.#d.admission.closed(s);
    s.send({ type: 'socket.closed', code, reason });
  }
}
