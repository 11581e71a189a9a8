import type { SnapshotFrom } from 'xstate';
import type { SessionMachine } from '../../actors/session.js';
import type { SessionEvent } from '../../actors/session-types.js';
import type { Connection } from '../network/transport.js';
import type { MachineStepper, StepAction } from './machine-stepper.js';

type Snapshot = SnapshotFrom<SessionMachine>;

/** Executes the machine's named actions; implemented once per gate (session-effects.ts), not per connection. */
export interface SessionEffects {
  /** Advances snapshots (one per gate: see machine-stepper.ts). */
  readonly stepper: MachineStepper;
  run(session: Session, action: StepAction, context: { uid: number }, event: SessionEvent): void;
  transitioned(session: Session, from: string, to: string, event: SessionEvent): void;
}

export function stateName(s: Snapshot): string {
  const v = s.value;
  if (typeof v === 'string') return v;
  const [k, sub] = Object.entries(v)[0] as [string, unknown];
  return `${k}.${String(sub)}`;
}

/**
 * One connection's session actor: a light object (docs/architecture.md) holding the xstate snapshot, an
 * ordered mailbox and the deadlines the gate-wide sweeps check. Lifecycle events advance the machine with the pure
 * transition(); data frames never do (the gate reads `isActive`, cached for the hot path).
 */
export class Session {
  /** The live connection; replaced when a suspended session resumes on a new one (resume.ts keeps the rest). */
  conn: Connection;
  readonly cid: number;
  /** When the connection opened (ms), for `duet sessions`. */
  readonly openedAtMs: number;
  uid = 0;
  /** Cached: true in active.* (the hot path forwards only then). */
  isActive = false;
  isClosed = false;
  /** Liveness stamp (ms), refreshed by every inbound binary frame. */
  lastSeenMs: number;
  /** 0 = no authorize deadline. */
  authorizeDeadlineMs = 0;
  malformed = 0;
  /** Rate-limit bucket (-1 = not started). */
  tokens = -1;
  tokensAtMs = 0;
  /** Frames waiting behind an async route lookup, so per-connection order holds. */
  backlog: Uint8Array[] | undefined;
  /** Cached: true in suspended (resume keeps the session while its socket is gone). */
  isSuspended = false;
  /** Answered once (or its first requests expired unanswered): past the login admission, never held by it. */
  isEstablished = false;
  /** Channels this session subscribed to (removed on close). */
  channels: Set<string> | undefined;
  #snapshot: Snapshot;
  #mailbox: SessionEvent[] | undefined;
  readonly #effects: SessionEffects;

  constructor(conn: Connection, effects: SessionEffects, nowMs: number, resumable = false) {
    this.conn = conn;
    this.cid = conn.cid;
    this.openedAtMs = nowMs;
    this.lastSeenMs = nowMs;
    this.#effects = effects;
    this.#snapshot = effects.stepper.initial({ cid: conn.cid, resumable });
  }

  get state(): string {
    return stateName(this.#snapshot);
  }

  get closeCode(): number {
    return this.#snapshot.context.closeCode;
  }

  get closeReason(): string {
    return this.#snapshot.context.closeReason;
  }

  /** Advances the machine; events sent from inside an action are queued and run after it (ordered mailbox). */
  send(event: SessionEvent): void {
    if (this.#mailbox) {
      this.#mailbox.push(event);
      return;
    }
    this.#mailbox = [];
    try {
      let next: SessionEvent | undefined = event;
      while (next) {
        this.#step(next);
        next = this.#mailbox.shift();
      }
    } finally {
      this.#mailbox = undefined;
    }
  }

  #step(event: SessionEvent): void {
    const before = this.#snapshot;
    if (before.status === 'done') return;
    const [after, actions] = this.#effects.stepper.step(before, event);
    if (after === before && actions.length === 0) return;
    this.#snapshot = after;
    this.uid = after.context.uid;
    const v = after.value;
    this.isActive = typeof v === 'object' && 'active' in v;
    this.isSuspended = v === 'suspended';
    this.isClosed = after.status === 'done';
    const from = stateName(before);
    const to = stateName(after);
    for (const a of actions) {
      this.#effects.run(this, a, a.info.context as { uid: number }, event);
    }
    if (from !== to || event.type === 'node.bound') this.#effects.transitioned(this, from, to, event);
  }
}
