import { CloseCode, ErrorCode } from '../errors.js';
import type { Log } from '../log/types.js';
import type { Connection, ConnectionHandler } from '../network/transport.js';
import { HEADER_HEARTBEAT, type PacketCodec, SIZE_BYTES } from '../packet/codec.js';
import type { CaptureSink } from '../replay/capture-sink.js';
import type { GateCounters, MalformedReason } from './counters.js';
import type { Dispatcher } from './dispatcher.js';
import type { ResumeService } from './resume.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export type HeartbeatMechanism = 'resp' | 'tick';

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
  /** Resumable sessions (issue 11); off unless its window is > 0. */
  resume: ResumeService;
}

const MALFORMED: Record<string, MalformedReason> = {
  [ErrorCode.PACKET_SHORT]: 'short',
  [ErrorCode.PACKET_SIZE_MISMATCH]: 'size_mismatch',
  [ErrorCode.PACKET_TOO_LARGE]: 'too_large',
};

/**
 * The gate's side of the transport: one session per connection, and the hot path for frames. A data frame in
 * active.* costs a header read, a route-table lookup and a batch append; it never enters the machine.
 * Nothing here throws on client bytes (PROTOCOL.md Errors).
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
    d.dispatcher.redispatch = (s, frame) => this.#data(s, frame);
  }

  open(c: Connection): void {
    const s = this.#d.createSession(c);
    this.#d.sessions.add(s);
    // With resume on, the first frame decides between a new session (connect) and a resumed one (no connect):
    // the session waits in handshake until then. Off, connect fires at once, as in due.
    if (!this.#d.resume.isEnabled) s.send({ type: 'session.opened' });
  }

  frame(c: Connection, bytes: Uint8Array): void {
    const d = this.#d;
    const s = d.sessions.byConn(c.cid);
    if (s === undefined) return;
    if (s.held) {
      // A resume request is being decided: keep the order, run these after it.
      s.held.push(bytes.slice());
      return;
    }
    // PROTOCOL.md Liveness: every binary frame, valid or not, refreshes liveness.
    s.lastSeenMs = Date.now();
    d.counters.framesIn++;
    d.counters.bytesIn += bytes.length;
    if (bytes.length === 0) return;
    if (this.#rate > 0 && !this.#take(s)) return;
    if (d.capture.enabled) d.capture.packet('in', d.gid, s.cid, s.uid, bytes);
    if (!s.isActive && !s.isClosed && !s.isSuspended && d.resume.isEnabled && this.#firstFrame(s, bytes)) return;
    if (bytes.length > SIZE_BYTES && ((bytes[SIZE_BYTES] as number) & HEADER_HEARTBEAT) !== 0) {
      this.#heartbeat(s, bytes);
      return;
    }
    this.#data(s, bytes);
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

  /** In handshake with resume on: a resume request is taken aside (true); anything else opens the session. */
  #firstFrame(s: Session, bytes: Uint8Array): boolean {
    const d = this.#d;
    const r = d.codec.decode(bytes);
    const req = r.ok && r.packet.kind === 'data' ? d.resume.parseRequest(r.packet.route, r.packet.body) : undefined;
    if (!req) {
      s.send({ type: 'session.opened' });
      return false;
    }
    s.held = [];
    d.resume
      .resume(s, req)
      .then((resumed) => {
        const target = resumed ? (d.sessions.byConn(s.conn.cid) ?? s) : s;
        if (!resumed && !s.isClosed) s.send({ type: 'session.opened' });
        this.replayHeld(target, s.held ?? []);
        s.held = undefined;
      })
      .catch((err: unknown) => d.log.error('resume failed unexpectedly', { cid: s.cid, err: String(err) }));
    return true;
  }

  /** Runs frames held during a resume decision through the normal path, in order. */
  replayHeld(target: Session, frames: Uint8Array[]): void {
    target.held = undefined;
    for (const f of frames) this.frame(target.conn, f);
  }

  #data(s: Session, bytes: Uint8Array): void {
    const d = this.#d;
    const route = d.codec.routeOf(bytes);
    if (route === undefined) {
      this.#malformed(s, bytes);
      return;
    }
    if (d.resume.isEnabled && route === d.resume.o.route) {
      // The reserved route never reaches a node; a late or repeated resume request is ignored.
      d.counters.drops.internal_route++;
      return;
    }
    if (!s.isActive) {
      d.counters.drops.not_active++;
      return;
    }
    d.dispatcher.dispatch(s, route, bytes);
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
    if (s) s.send({ type: 'socket.closed', code, reason });
  }
}
