import { BOARD, type Player } from './demo-messages.js';

/** The session a player joined from: pushes go to that connection, and only its disconnect removes the player. */
export interface SessionRef {
  gid: string;
  cid: number;
}

export interface Member extends Player, SessionRef {
  room: string;
}

/** Bounds that keep one node's memory finite whatever clients send. */
export const ROOM_LIMITS = { MAX_ROOMS: 1000, MAX_PLAYERS_PER_ROOM: 64 } as const;

export type JoinResult =
  | { ok: true; member: Member; left: string | undefined }
  | { ok: false; error: string; left?: undefined };

/**
 * The rooms of one node: room name → members, and uid → membership (a user is in at most one room). Pure state, no
 * I/O: src/demo/game.ts sends the pushes. Rooms exist while they have members.
 */
export class Rooms {
  readonly #rooms = new Map<string, Map<number, Member>>();
  readonly #byUid = new Map<number, Member>();

  /** Moves the user into `room` (out of any other room first). Rejoining the same room keeps the position. */
  join(uid: number, name: string, session: SessionRef, room: string): JoinResult {
    const current = this.#byUid.get(uid);
    if (current?.room === room) {
      current.gid = session.gid;
      current.cid = session.cid;
      current.name = name;
      return { ok: true, member: current, left: undefined };
    }
    const target = this.#rooms.get(room);
    if (!target && this.#rooms.size >= ROOM_LIMITS.MAX_ROOMS) {
      return { ok: false, error: `too many rooms on this node (${ROOM_LIMITS.MAX_ROOMS}); join an existing one` };
    }
    if (target && target.size >= ROOM_LIMITS.MAX_PLAYERS_PER_ROOM) {
      return { ok: false, error: `room ${room} is full (${ROOM_LIMITS.MAX_PLAYERS_PER_ROOM} players)` };
    }
    const left = current ? this.leave(uid)?.room : undefined;
    const start = spawnPoint(uid);
    const member: Member = { uid, name, gid: session.gid, cid: session.cid, room, x: start.x, y: start.y };
    const members = target ?? new Map<number, Member>();
    members.set(uid, member);
    this.#rooms.set(room, members);
    this.#byUid.set(uid, member);
    return { ok: true, member, left };
  }

  /** Removes the user from its room; undefined when it was in none. */
  leave(uid: number): Member | undefined {
    const m = this.#byUid.get(uid);
    if (!m) return undefined;
    this.#byUid.delete(uid);
    const members = this.#rooms.get(m.room);
    members?.delete(uid);
    if (members?.size === 0) this.#rooms.delete(m.room);
    return m;
  }

  /** Removes the user only when it joined from `session` (a newer session of the same uid keeps its place). */
  leaveSession(uid: number, session: SessionRef): Member | undefined {
    const m = this.#byUid.get(uid);
    if (!m || m.gid !== session.gid || m.cid !== session.cid) return undefined;
    return this.leave(uid);
  }

  /** Stores a position clamped to the board; false when the user is in no room. */
  move(uid: number, x: number, y: number): boolean {
    const m = this.#byUid.get(uid);
    if (!m) return false;
    m.x = clamp(x, BOARD.WIDTH);
    m.y = clamp(y, BOARD.HEIGHT);
    return true;
  }

  memberOf(uid: number): Member | undefined {
    return this.#byUid.get(uid);
  }

  members(room: string): Member[] {
    return [...(this.#rooms.get(room)?.values() ?? [])];
  }

  /** Names of the rooms that have members. */
  names(): string[] {
    return [...this.#rooms.keys()];
  }

  get size(): number {
    return this.#rooms.size;
  }

  get playerCount(): number {
    return this.#byUid.size;
  }
}

function clamp(v: number, max: number): number {
  if (!Number.isFinite(v)) return 0;
  return Math.min(max, Math.max(0, Math.round(v)));
}

/** A start position spread over the board by uid, so players who join together do not stack on one spot. */
export function spawnPoint(uid: number): { x: number; y: number } {
  const h = Math.abs(uid) % 9973;
  return { x: 40 + ((h * 37) % (BOARD.WIDTH - 80)), y: 40 + ((h * 53) % (BOARD.HEIGHT - 80)) };
}

/** Public view of a member (what clients see). */
export function toPlayer(m: Member): Player {
  return { uid: m.uid, name: m.name, x: m.x, y: m.y };
}
