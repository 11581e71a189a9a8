import type { PreparedFrame } from '../network/prepared-frame.js';
import type { ConnectionHandler } from '../network/transport.js';
import type { FrameHandler } from './frames.js';
import type { PushWriter } from './push-writer.js';
import type { Session } from './session.js';

/** Who sent an op: the node, and whether another gate relayed it (resume handover). */
export interface OpSource {
  nid: string;
  forwarded: boolean;
}

/**
 * The named points where a gate feature plugs in, in the spirit of fastify's hooks. The gate's own parts (frames,
 * operations, effects, sweeper) call these; without a feature they are `dueHooks`, which is exactly due's
 * behaviour, so no feature branch sits on the hot path. Resume (resume.ts) is the one feature today, and it keeps
 * its per-session state itself: Session holds only what every session needs.
 */
export interface GateHooks {
  /** Whether the machine may suspend a bound session whose socket is lost (SessionInput.resumable). */
  readonly resumable: boolean;
  /** open / first frame: the connection handler the transport sees, given the gate's own. */
  frames(inner: FrameHandler): ConnectionHandler;
  /** bind: the session was bound to a uid (or resumed). */
  bound(s: Session): void;
  /** socket lost: the machine suspended the session (only when `resumable`). */
  suspended(s: Session): void;
  /**
   * before push: writes (or holds) a push from a node for `s`; false when it did not reach the session. `frame`:
   * the packet framed once for every session of a fan-out (src/network/prepared-frame.ts).
   */
  push(s: Session, packet: Uint8Array, disconnect: boolean, src: OpSource, frame?: PreparedFrame): boolean;
  /** A session the op path should find by uid although it is not bound here yet (a takeover in flight). */
  pendingByUid(uid: number): Session | undefined;
  /** A push for a target this gate does not hold: relayed elsewhere (true) or missed (false). */
  relay(kind: number, target: number, packet: Uint8Array, disconnect: boolean, src: OpSource): boolean;
  /** A node's fence op (resume handover ordering). */
  fence(uid: number, src: OpSource): void;
  /** sweep: how often `sweep` runs (0 = never), and the check itself. */
  readonly sweepEveryMs: number;
  sweep(now: number): void;
  start(): void;
  stop(): Promise<void>;
}

/** due's gate: no feature. */
export function dueHooks(writer: PushWriter): GateHooks {
  return {
    resumable: false,
    frames: (inner) => inner,
    bound: () => {},
    suspended: () => {},
    push: (s, packet, disconnect, _src, frame) => writer.deliver(s, packet, disconnect, frame),
    pendingByUid: () => undefined,
    relay: () => false,
    fence: () => {},
    sweepEveryMs: 0,
    sweep: () => {},
    start: () => {},
    stop: async () => {},
  };
}
