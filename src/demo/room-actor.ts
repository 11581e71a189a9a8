import type { ErrorReporter } from '../errors.js';
import type { ActorCreator, ActorMessage, ActorTimer } from '../node/actors/actor.js';
import type { Node } from '../node/node.js';
import { GameRoute, type Player, roomChannel } from './demo-messages.js';
import { Demo } from './demo-proto.js';
import { type Member, ROOM_LIMITS, Rooms, toPlayer } from './rooms.js';

/** The cluster actor kind of a game room: `room/{name}` runs on one node of the cluster at a time. */
export const ROOM_KIND = 'room';

/** What the room actor's methods take (JSON text bodies, so any node codec carries them). */
export interface RoomJoin {
  uid: number;
  name: string;
  gid: string;
  cid: number;
  /** No join notice (a resumed session; or the caller sends it after its reply). */
  quiet?: boolean;
}
export type RoomReply = { error?: string; players?: Player[]; left?: boolean };

/** This node's share of the game: the rooms whose actors run here, and the tick they drive. */
export interface RoomHost {
  readonly node: Node;
  readonly tickMs: number;
  readonly report: ErrorReporter;
  /** room name → its state, for the actors running on this node. */
  readonly hosted: Map<string, Rooms>;
  /** Rooms whose tick timer is armed. */
  readonly ticking: Set<string>;
  /** Called on every tick of a room here. */
  tick(): void;
  readonly stopped: boolean;
}

const dec = new TextDecoder();
const args = <T>(m: ActorMessage): T => JSON.parse(dec.decode(m.body)) as T;
const json = (r: RoomReply): string => JSON.stringify(r);

/**
 * One room as an actor: its members, their positions, its chat. The mailbox runs join, leave, move, chat and the
 * tick one at a time, so every member on every node sees one consistent room; pushes go to the room's gate
 * channel. The tick is an actor timer (afterInvoke): it dies with the actor and stops when the room is empty.
 */
export function roomActor(h: RoomHost): ActorCreator {
  return (actor) => {
    const room = actor.id;
    const rooms = new Rooms();
    let timer: ActorTimer | undefined;
    let ticks = 0;

    const publish = (route: number, body: Uint8Array): void => {
      h.node.proxy
        .publish({ channel: roomChannel(room), route, body })
        .catch((err: unknown) => h.report(err, `push route ${route} to room ${room}`));
    };
    const notice = (text: string): void =>
      publish(GameRoute.CHAT_PUSH, Demo.ChatMessage.encode({ uid: 0, name: '', text, room }));
    const players = (): Player[] => rooms.members(room).map(toPlayer);
    const positions = (): void =>
      publish(
        GameRoute.POSITIONS_PUSH,
        Demo.Positions.encode({ room, players: players(), tick: ticks, node: h.node.id }),
      );

    const tick = (): void => {
      timer = undefined;
      // Nothing is pushed from a draining node or an empty room.
      if (h.stopped || h.node.state !== 'running' || rooms.size === 0) {
        h.ticking.delete(room);
        return;
      }
      ticks++;
      h.tick();
      positions();
      arm();
    };
    const arm = (): void => {
      if (timer || h.stopped) return;
      timer = actor.afterInvoke(h.tickMs, tick);
      h.ticking.add(room);
    };

    actor.handle('join', (m) => {
      const a = args<RoomJoin>(m);
      // Rooms are activated on demand: bound how many one node hosts, whatever clients ask for.
      if (h.hosted.size > ROOM_LIMITS.MAX_ROOMS && rooms.size === 0)
        return json({ error: `too many rooms on this node (${ROOM_LIMITS.MAX_ROOMS}); join an existing one` });
      const joined = rooms.join(a.uid, a.name, { gid: a.gid, cid: a.cid }, room);
      if (!joined.ok) return json({ error: joined.error });
      if (!a.quiet) notice(`${a.name} joined ${room}`);
      arm();
      return json({ players: players() });
    });
    // After the joiner got its RoomState: a page renders the room from that reply, then appends notices.
    actor.handle('notice', (m) => {
      notice(args<{ text: string }>(m).text);
      return json({});
    });
    actor.handle('leave', (m) => {
      const a = args<{ uid: number; gid: string; cid: number }>(m);
      const left = rooms.leaveSession(a.uid, { gid: a.gid, cid: a.cid });
      if (left) {
        notice(`${left.name} left`);
        positions();
      }
      return json({ left: left !== undefined });
    });
    actor.handle('move', (m) => {
      const a = args<{ uid: number; x: number; y: number }>(m);
      return json(rooms.move(a.uid, a.x, a.y) ? {} : { error: 'join a room (route 101) before moving' });
    });
    actor.handle('chat', (m) => {
      const a = args<{ uid: number; text: string }>(m);
      const member: Member | undefined = rooms.memberOf(a.uid);
      if (!member) return json({ error: 'join a room (route 101) before chatting' });
      publish(GameRoute.CHAT_PUSH, Demo.ChatMessage.encode({ uid: member.uid, name: member.name, text: a.text, room }));
      return json({});
    });
    return {
      init: () => void h.hosted.set(room, rooms),
      destroy: () => {
        h.hosted.delete(room);
        h.ticking.delete(room);
      },
    };
  };
}

/** The rooms hosted on this node, read as one (tests and the Game view). */
export class HostedRooms {
  readonly #hosted: Map<string, Rooms>;
  constructor(hosted: Map<string, Rooms>) {
    this.#hosted = hosted;
  }
  memberOf(uid: number): Member | undefined {
    for (const r of this.#hosted.values()) {
      const m = r.memberOf(uid);
      if (m) return m;
    }
    return undefined;
  }
  members(room: string): Member[] {
    return this.#hosted.get(room)?.members(room) ?? [];
  }
  /** Rooms here that have members. */
  get size(): number {
    let n = 0;
    for (const r of this.#hosted.values()) n += r.size;
    return n;
  }
}
