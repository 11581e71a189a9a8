import type { PacketCodec } from '../packet/codec.js';
import { SlicedWalk } from '../time-slice.js';
import type { HeartbeatMechanism } from './frames.js';
import type { GateHooks } from './hooks.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

export interface SweeperDeps {
  sessions: SessionTable;
  codec: PacketCodec;
  heartbeatIntervalMs: number;
  mechanism: HeartbeatMechanism;
  authorizeTimeoutMs: number;
  /** Features' own deadlines (resume: suspended sessions' windows), on their own period. */
  hooks: GateHooks;
  /** Sessions the login admission holds unread: silent because of the gate, their deadlines move on release. */
  isHeld(s: Session): boolean;
}

/**
 * The gate-wide deadline checks (docs/contributing.md): no timer per connection. Each heartbeat interval, sessions silent for
 * more than 2 × interval get `heartbeat.expired` (so they close between 2× and 3×, as in due), and in `tick` mode
 * the others get a server heartbeat. Authorize deadlines are checked at a tenth of the timeout.
 */
export class Sweeper {
  readonly #d: SweeperDeps;
  #heartbeat: NodeJS.Timeout | undefined;
  #authorize: NodeJS.Timeout | undefined;
  #suspend: NodeJS.Timeout | undefined;
  /** Sweeps visit sessions in 5 ms slices: 15,000 heartbeat writes in one turn held the loop ~1 s (issue 20). */
  readonly #heartbeatWalk = new SlicedWalk<Session>();
  readonly #authorizeWalk = new SlicedWalk<Session>();

  constructor(d: SweeperDeps) {
    this.#d = d;
  }

  start(): void {
    this.stop();
    const { heartbeatIntervalMs, authorizeTimeoutMs } = this.#d;
    if (heartbeatIntervalMs > 0) {
      this.#heartbeat = setInterval(() => this.sweepHeartbeats(Date.now()), heartbeatIntervalMs);
      this.#heartbeat.unref();
    }
    const { hooks } = this.#d;
    if (hooks.sweepEveryMs > 0) {
      this.#suspend = setInterval(() => hooks.sweep(Date.now()), hooks.sweepEveryMs);
      this.#suspend.unref();
    }
    if (authorizeTimeoutMs > 0) {
      this.#authorize = setInterval(() => this.sweepAuthorize(Date.now()), Math.max(10, authorizeTimeoutMs / 10));
      this.#authorize.unref();
    }
  }

  stop(): void {
    this.#heartbeatWalk.cancel();
    this.#authorizeWalk.cancel();
    clearInterval(this.#heartbeat);
    clearInterval(this.#authorize);
    clearInterval(this.#suspend);
    this.#suspend = undefined;
    this.#heartbeat = undefined;
    this.#authorize = undefined;
  }

  sweepHeartbeats(now: number): void {
    const { sessions, heartbeatIntervalMs, mechanism, codec } = this.#d;
    const limit = now - 2 * heartbeatIntervalMs;
    // One frame for the whole sweep: every session gets the same bytes.
    const tick = mechanism === 'tick' ? codec.serverHeartbeat() : undefined;
    this.#heartbeatWalk.start(sessions.all(), (s) => {
      if (s.isClosed || s.isSuspended || this.#d.isHeld(s)) return;
      if (s.lastSeenMs < limit) s.send({ type: 'heartbeat.expired' });
      else if (tick !== undefined && s.isActive) s.conn.send(tick, 'control');
    });
  }

  sweepAuthorize(now: number): void {
    this.#authorizeWalk.start(this.#d.sessions.all(), (s) => {
      if (
        s.authorizeDeadlineMs !== 0 &&
        s.authorizeDeadlineMs <= now &&
        s.uid === 0 &&
        !s.isClosed &&
        !this.#d.isHeld(s)
      )
        s.send({ type: 'authorize.expired' });
    });
  }
}
