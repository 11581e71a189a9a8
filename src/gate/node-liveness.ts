import type { Bus, Subscription } from '../bus/bus.js';
import { readBeat } from '../bus/liveness-codec.js';
import { CloseCode, DuetError, ErrorCode, type ErrorReporter } from '../errors.js';
import type { Log } from '../log/types.js';
import type { ServiceInstance } from '../registry/registry.js';
import type { Session } from './session.js';

/** What the gate does with sessions whose requests went to a node that died: close them (4010) or nothing. */
export type NodeLostAction = 'close' | 'ignore';

/** Beats of silence after which a node is taken as dead. */
export const LIVENESS_MISSES = 3;
const SWEEP_MS = 100;
/** A sweep this late means the gate itself was stalled: the beats are queued, not missing. */
const STALL_MS = 1_000;

export interface NodeLivenessOptions {
  bus: Bus;
  /** The wildcard of every node's beat subject (Subjects.nodesAlive()). */
  subject: string;
  log: Log;
  reportError: ErrorReporter;
  /** The set of dead nodes changed: rebuild the route table through filter(). */
  onChange(): void;
  action: NodeLostAction;
}

interface Tracked {
  lastBeatMs: number;
  intervalMs: number;
  /** Sessions that sent to the node since the previous beat, and since the last one (rotated per beat). */
  prev: Set<Session>;
  cur: Set<Session>;
}

/**
 * Watches the nodes' liveness beats (src/node/liveness-beat.ts) so a node killed or stopped (SIGKILL, SIGSTOP, a
 * cut network) leaves the route table within about 3 beats (1.5 s by default) instead of the registry TTL, and the
 * sessions whose requests it may have swallowed are told (closed with 4010 NODE_UNAVAILABLE) instead of waiting in
 * silence. Only nodes that beat are watched. While the gate's own bus is down, or its event loop was stalled, no
 * node is judged: the silence is ours, and the route table is kept.
 */
export class NodeLiveness {
  readonly #o: NodeLivenessOptions;
  readonly #nodes = new Map<string, Tracked>();
  readonly #dead = new Set<string>();
  /** The last registry entry of every node seen, to keep beating nodes the registry lost (filter()). */
  readonly #known = new Map<string, ServiceInstance>();
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #offStatus: (() => void) | undefined;
  #lastSweepMs = 0;
  /** Nodes declared dead since start. */
  lost = 0;
  /** Sessions closed because their node died. */
  closedSessions = 0;

  constructor(o: NodeLivenessOptions) {
    this.#o = o;
  }

  start(): void {
    const sub = this.#o.bus.subscribe(this.#o.subject);
    this.#sub = sub;
    const prefix = this.#o.subject.slice(0, -1);
    void (async () => {
      for await (const m of sub) {
        const interval = readBeat(m.data);
        if (interval !== undefined) this.#onBeat(m.subject.slice(prefix.length), interval);
      }
    })().catch((err: unknown) => this.#o.reportError(err, 'bus liveness watch'));
    this.#lastSweepMs = Date.now();
    this.#timer = setInterval(() => this.#sweep(Date.now()), SWEEP_MS);
    // Back from an outage: every node gets a fresh grace period before its silence counts again.
    this.#offStatus = this.#o.bus.onStatus((s) => {
      if (s === 'connected') this.#grace(Date.now());
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#offStatus?.();
    await this.#sub?.drain();
  }

  /** Hot path: `s` sent a request to `nid`. */
  sent(nid: string, s: Session): void {
    this.#nodes.get(nid)?.cur.add(s);
  }

  /** Beats of `nid` have been heard (and it has not said "leaving"). */
  isWatched(nid: string): boolean {
    return this.#nodes.has(nid);
  }

  isDead(nid: string): boolean {
    return this.#dead.has(nid);
  }

  /**
   * The registry's node list without the nodes taken as dead, plus the nodes it lost that still beat: during and
   * after a NATS outage the registry's entries expire (nobody could refresh them) and come back only as the nodes
   * re-register, but the nodes themselves are fine. The route table keeps them instead of emptying.
   */
  filter(list: readonly ServiceInstance[]): readonly ServiceInstance[] {
    const listed = new Set<string>();
    for (const i of list) {
      listed.add(i.id);
      this.#known.set(i.id, i);
    }
    const out = this.#dead.size === 0 ? [...list] : list.filter((i) => !this.#dead.has(i.id));
    for (const [nid, inst] of this.#known) {
      if (listed.has(nid)) continue;
      if (this.#beating(nid)) out.push(inst);
      else this.#known.delete(nid);
    }
    return out;
  }

  /** Watched, not dead, and heard from within the miss window (or our bus is down: no one can be judged). */
  #beating(nid: string): boolean {
    const t = this.#nodes.get(nid);
    if (!t || this.#dead.has(nid)) return false;
    if (this.#o.bus.status !== 'connected') return true;
    return Date.now() - t.lastBeatMs <= LIVENESS_MISSES * t.intervalMs;
  }

  #onBeat(nid: string, intervalMs: number): void {
    if (intervalMs === 0) {
      // Leaving gracefully: it deregisters; its silence from now on is not a crash.
      this.#nodes.delete(nid);
      this.#dead.delete(nid);
      // Its deregistration may have come first, while its beats still kept it in the table: rebuild without it.
      if (this.#known.has(nid)) this.#o.onChange();
      return;
    }
    const t = this.#nodes.get(nid);
    if (!t) {
      this.#nodes.set(nid, { lastBeatMs: Date.now(), intervalMs, prev: new Set(), cur: new Set() });
      this.#o.log.info('watching node liveness', { nid, intervalMs });
    } else {
      t.lastBeatMs = Date.now();
      t.intervalMs = intervalMs;
      t.prev = t.cur;
      t.cur = new Set();
    }
    if (this.#dead.delete(nid)) {
      this.#o.log.info('node beats again: back in the route table', { nid });
      this.#o.onChange();
    }
  }

  #grace(now: number): void {
    for (const t of this.#nodes.values()) t.lastBeatMs = Math.max(t.lastBeatMs, now);
  }

  #sweep(now: number): void {
    const late = now - this.#lastSweepMs > STALL_MS;
    this.#lastSweepMs = now;
    if (late || this.#o.bus.status !== 'connected') {
      this.#grace(now);
      return;
    }
    let changed = false;
    for (const [nid, t] of this.#nodes) {
      if (this.#dead.has(nid)) continue;
      const silentMs = now - t.lastBeatMs;
      if (silentMs <= LIVENESS_MISSES * t.intervalMs) continue;
      this.#dead.add(nid);
      this.lost++;
      changed = true;
      const stranded = [...new Set([...t.prev, ...t.cur])].filter((s) => !s.isClosed);
      t.prev = new Set();
      t.cur = new Set();
      this.#o.reportError(
        new DuetError(
          ErrorCode.UNAVAILABLE,
          `node ${nid} missed ${LIVENESS_MISSES} liveness beats (silent ${silentMs} ms): out of the route table; ` +
            `${stranded.length} sessions with requests to it ${this.#o.action === 'close' ? 'closed (4010)' : 'left open'}`,
        ),
        'bus node lost',
      );
      if (this.#o.action === 'close') {
        this.closedSessions += closeStranded(stranded, `node ${nid} stopped answering`);
      }
    }
    if (changed) this.#o.onChange();
  }
}

/** Closes sessions whose requests cannot be answered (a dead node, a refused publish): they see 4010, not silence. */
export function closeStranded(sessions: Iterable<Session>, reason: string): number {
  let n = 0;
  for (const s of sessions) {
    if (s.isClosed) continue;
    s.send({ type: 'session.kicked', force: false, code: CloseCode.NODE_UNAVAILABLE, reason });
    n++;
  }
  return n;
}
