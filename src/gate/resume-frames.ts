import type { Log } from '../log/types.js';
import type { Connection, ConnectionHandler } from '../network/transport.js';
import type { PacketCodec } from '../packet/codec.js';
import type { GateCounters } from './counters.js';
import { type FrameHandler, isHeartbeat } from './frames.js';
import type { ResumeState } from './resume.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

/** What the frame side of resume needs from the feature. */
export interface ResumeFrameParts {
  state(s: Session): ResumeState;
  peek(s: Session): ResumeState | undefined;
  parseRequest(route: number, body: Uint8Array): { token: unknown; seen: number } | undefined;
  resume(s: Session, req: { token: unknown; seen: number }): Promise<boolean>;
}

/**
 * The connection handler with resume on, wrapped around the gate's own (frames.ts): a new connection waits in
 * handshake for its first frame, which decides between a new session (connect) and a resumed one (no connect);
 * frames that arrive while a resume request is decided are held and replayed in order; the reserved route never
 * reaches a node. With resume off this file is not in the path at all.
 */
export class ResumeFrames implements ConnectionHandler {
  readonly #inner: FrameHandler;
  readonly #route: number;
  readonly #sessions: SessionTable;
  readonly #codec: PacketCodec;
  readonly #counters: GateCounters;
  readonly #log: Log;
  readonly #p: ResumeFrameParts;

  constructor(
    inner: FrameHandler,
    route: number,
    sessions: SessionTable,
    codec: PacketCodec,
    counters: GateCounters,
    log: Log,
    parts: ResumeFrameParts,
  ) {
    this.#inner = inner;
    this.#route = route;
    this.#sessions = sessions;
    this.#codec = codec;
    this.#counters = counters;
    this.#log = log;
    this.#p = parts;
  }

  /** The session waits in handshake (with its deadlines) until the first frame. */
  open(c: Connection): void {
    this.#inner.admit(c);
  }

  frame(c: Connection, bytes: Uint8Array): void {
    const s = this.#sessions.byConn(c.cid);
    if (s === undefined) return;
    const held = this.#p.peek(s)?.held;
    if (held) {
      // A resume request is being decided: keep the order, run these after it.
      held.push(bytes.slice());
      return;
    }
    if (!this.#inner.account(s, bytes)) return;
    if (!s.isActive && s.state === 'handshake' && this.#firstFrame(s, bytes)) return;
    if (!isHeartbeat(bytes) && this.#codec.routeOf(bytes) === this.#route) {
      // The reserved route never reaches a node; a late or repeated resume request is ignored.
      this.#counters.drops.internal_route++;
      return;
    }
    this.#inner.handle(s, bytes);
  }

  closed(c: Connection, code: number, reason: string): void {
    this.#inner.closed(c, code, reason);
  }

  /** In handshake: a resume request is taken aside (true); anything else opens the session. */
  #firstFrame(s: Session, bytes: Uint8Array): boolean {
    const r = this.#codec.decode(bytes);
    const req = r.ok && r.packet.kind === 'data' ? this.#p.parseRequest(r.packet.route, r.packet.body) : undefined;
    if (!req) {
      s.send({ type: 'session.opened' });
      return false;
    }
    const st = this.#p.state(s);
    st.held = [];
    this.#p
      .resume(s, req)
      .then((resumed) => {
        const target = resumed ? (this.#sessions.byConn(s.conn.cid) ?? s) : s;
        if (!resumed && !s.isClosed) s.send({ type: 'session.opened' });
        // On this gate the old session took the held frames over (resume-takeover.ts); replay whichever holds them.
        const frames = this.#p.peek(target)?.held ?? st.held ?? [];
        const tst = this.#p.peek(target);
        if (tst) tst.held = undefined;
        st.held = undefined;
        for (const f of frames) this.frame(target.conn, f);
      })
      .catch((err: unknown) => this.#log.error('resume failed unexpectedly', { cid: s.cid, err: String(err) }));
    return true;
  }
}
