import { type ErrorReporter, errorMessage } from '../errors.js';
import type { RequestContext, SessionContext } from '../node/context.js';
import type { Node } from '../node/node.js';
import { BOARD, GameRoute, type MessageCodec, type Player, roomChannel } from './demo-messages.js';
import { Demo } from './demo-proto.js';
import { checkChat, checkName, checkRoom, uidForName } from './game-input.js';
import { HostedRooms, ROOM_KIND, type RoomHost, type RoomReply, roomActor } from './room-actor.js';
import type { Rooms, SessionRef } from './rooms.js';

/** How often each room with members gets a Positions push. */
export const TICK_MS = 100;

export interface GameOptions {
  tickMs?: number;
  /** Failures of fire-and-forget pushes; default writes one line to stderr. */
  reportError?: ErrorReporter;
}

/** A running game on one node; stop() ends its ticks (the node app's stop hook calls it). */
export interface Game {
  /** The rooms whose actors run on this node. */
  readonly rooms: HostedRooms;
  /** Users logged in through this node (uid → name and session). */
  readonly users: ReadonlyMap<number, LoggedIn>;
  /** True while a room hosted here ticks. */
  readonly ticking: boolean;
  /** Ticks of the rooms hosted here, all together. */
  readonly ticks: number;
  stop(): void;
}

interface LoggedIn extends SessionRef {
  name: string;
  /** The room this user is in (its actor may run on any node). */
  room?: string;
}

const defaultReport: ErrorReporter = (err, context) =>
  process.stderr.write(`duet demo game: ${context}: ${errorMessage(err)}\n`);

/**
 * The demo game (proto/demo.proto): login binds a uid derived from the name (stateless route, any node), the other
 * routes are stateful, so a user's login lives on the node it logged in through. Each room is a cluster actor
 * (`room/{name}`, src/demo/room-actor.ts) that runs on one node and holds every member, wherever they logged in;
 * chat and positions go to the gate channel "room:{name}". Each request gets a reply with an `error` field;
 * invalid input never throws out of a handler.
 */
export function registerGame(node: Node, opts: GameOptions = {}): Game {
  const report = opts.reportError ?? defaultReport;
  const users = new Map<number, LoggedIn>();
  /** Session → uid of the users in `users`: a disconnect is matched by its session, whatever uid it carries. */
  const sessions = new Map<string, number>();
  const hosted = new Map<string, Rooms>();
  const ticking = new Set<string>();
  let ticks = 0;
  let stopped = false;
  const host: RoomHost = {
    node,
    tickMs: opts.tickMs ?? TICK_MS,
    report,
    hosted,
    ticking,
    tick: () => void ticks++,
    get stopped() {
      return stopped;
    },
  };
  node.actors.define(ROOM_KIND, roomActor(host));

  /** Calls the room's actor; its reply, or `{ error }` when the call itself failed. */
  const roomCall = async (room: string, method: string, body: object): Promise<RoomReply> => {
    try {
      const r = await node.actors.call(ROOM_KIND, room, method, JSON.stringify(body));
      return JSON.parse(r.text()) as RoomReply;
    } catch (err) {
      return { error: `room ${room} failed: ${errorMessage(err)}` };
    }
  };

  /** The session that logged in, or undefined when this session did not log in through this node. */
  const loggedIn = (ctx: SessionContext): LoggedIn | undefined => {
    const u = users.get(ctx.uid);
    return u && u.gid === ctx.gid && u.cid === ctx.cid ? u : undefined;
  };

  /** Takes the user out of its room (the actor matches the session); the caller unsubscribes a live session. */
  const leaveRoom = async (uid: number, u: LoggedIn): Promise<string | undefined> => {
    const room = u.room;
    if (room === undefined) return undefined;
    u.room = undefined;
    const r = await roomCall(room, 'leave', { uid, gid: u.gid, cid: u.cid });
    if (r.error) report(new Error(r.error), `leave room ${room}`);
    return room;
  };

  /** Leaves the room and the room's channel (a live session: leave, logout). */
  const leaveLive = async (ctx: SessionContext, u: LoggedIn): Promise<void> => {
    const room = await leaveRoom(ctx.uid, u);
    if (room !== undefined) await ctx.unsubscribe(roomChannel(room));
  };

  /** Drops a login and its room membership; false when `session` is not the uid's current login here. */
  const forget = async (uid: number, session: SessionRef): Promise<boolean> => {
    const u = users.get(uid);
    if (!u || u.gid !== session.gid || u.cid !== session.cid) return false;
    users.delete(uid);
    sessions.delete(sessionKey(u));
    await leaveRoom(uid, u);
    return true;
  };

  node.addRoute(GameRoute.LOGIN, async (ctx) => {
    const reply = (error: string, uid = 0, name = ''): void =>
      ctx.response(Demo.LoginReply.encode({ uid, name, error }));
    const req = parse(ctx, Demo.Login);
    if (!req) return reply('body is not a Login message');
    const name = checkName(req.name);
    if (!name.ok) return reply(name.error);
    if (ctx.uid !== 0) return reply(`this session is already logged in as uid ${ctx.uid}; log out (route 105) first`);
    const uid = uidForName(name.value);
    try {
      // bindGate displaces any older session of this uid, on any gate (its disconnect event cleans its room).
      await ctx.bindGate(uid);
    } catch (err) {
      return reply(`login failed: ${errorMessage(err)}`);
    }
    try {
      await ctx.bindNode(uid);
    } catch (err) {
      await ctx.unbindGate().catch((e: unknown) => report(e, 'unbind gate after a failed login'));
      return reply(`login failed: ${errorMessage(err)}`);
    }
    // An older session of this name, displaced by bindGate, leaves its room now rather than on its disconnect.
    const older = users.get(uid);
    if (older) await forget(uid, older);
    users.set(uid, { name: name.value, gid: ctx.gid, cid: ctx.cid });
    sessions.set(sessionKey(ctx), uid);
    reply('', uid, name.value);
  });

  node.addRoute(
    GameRoute.JOIN,
    async (ctx) => {
      const reply = (error: string, room = '', players: Player[] = []): void =>
        ctx.response(Demo.RoomState.encode({ room, players, error, width: BOARD.WIDTH, height: BOARD.HEIGHT }));
      const user = loggedIn(ctx);
      if (!user) return reply('log in (route 100) before joining a room');
      const req = parse(ctx, Demo.JoinRoom);
      if (!req) return reply('body is not a JoinRoom message');
      const room = checkRoom(req.room);
      if (!room.ok) return reply(room.error);
      if (user.room !== undefined && user.room !== room.value) await leaveLive(ctx, user);
      try {
        // On the channel first, so the joiner hears its own join notice.
        await ctx.subscribe(roomChannel(room.value));
      } catch (err) {
        return reply(`join failed: ${errorMessage(err)}`);
      }
      const join = { uid: ctx.uid, name: user.name, gid: ctx.gid, cid: ctx.cid, quiet: true };
      const r = await roomCall(room.value, 'join', join);
      if (r.error) {
        await ctx.unsubscribe(roomChannel(room.value)).catch((e: unknown) => report(e, 'unsubscribe after a join'));
        return reply(r.error);
      }
      user.room = room.value;
      reply('', room.value, r.players ?? []);
      node.actors.send(ROOM_KIND, room.value, 'notice', JSON.stringify({ text: `${user.name} joined ${room.value}` }));
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.CHAT,
    async (ctx) => {
      const ack = (error = ''): void => ctx.response(Demo.Ack.encode({ error }));
      const room = loggedIn(ctx)?.room;
      if (room === undefined) return ack('join a room (route 101) before chatting');
      const req = parse(ctx, Demo.Chat);
      if (!req) return ack('body is not a Chat message');
      const text = checkChat(req.text);
      if (!text.ok) return ack(text.error);
      ack((await roomCall(room, 'chat', { uid: ctx.uid, text: text.value })).error ?? '');
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.MOVE,
    async (ctx) => {
      // Moves are frequent: a client that send()s them (seq 0) gets no Ack back; request() gets one.
      const ack = (error = ''): void => {
        if (ctx.seq !== 0) ctx.response(Demo.Ack.encode({ error }));
      };
      const room = loggedIn(ctx)?.room;
      if (room === undefined) return ack('join a room (route 101) before moving');
      const req = parse(ctx, Demo.Move);
      if (!req) return ack('body is not a Move message');
      ack((await roomCall(room, 'move', { uid: ctx.uid, x: req.x, y: req.y })).error ?? '');
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.LEAVE,
    async (ctx) => {
      try {
        const u = loggedIn(ctx);
        if (u) await leaveLive(ctx, u);
      } catch (err) {
        return ctx.response(Demo.Ack.encode({ error: `leave failed: ${errorMessage(err)}` }));
      }
      ctx.response(Demo.Ack.encode({ error: '' }));
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.LOGOUT,
    async (ctx) => {
      try {
        const u = loggedIn(ctx);
        if (u) await leaveLive(ctx, u);
        await forget(ctx.uid, ctx);
        await ctx.unbindNode();
        await ctx.unbindGate();
      } catch (err) {
        ctx.response(Demo.Ack.encode({ error: `logout failed: ${errorMessage(err)}` }));
        return;
      }
      ctx.response(Demo.Ack.encode({ error: '' }));
    },
    { stateful: true },
  );

  node.on('disconnect', async (ctx) => {
    // Only the session that logged in is cleaned: a newer login of the same name (which displaced this one) keeps
    // its room and its node binding.
    const uid = sessions.get(sessionKey(ctx));
    if (uid === undefined || !(await forget(uid, ctx))) return;
    await ctx.unbindNode(uid).catch((err: unknown) => report(err, `unbind node of uid ${uid}`));
  });

  node.on('resume', async (ctx) => {
    // A resumed session (issue 11) may come back on another gate with another cid: follow it, tell the room, and
    // put the new connection on the room's channel (subscribing is idempotent).
    const u = users.get(ctx.uid);
    if (!u) return;
    sessions.delete(sessionKey(u));
    u.gid = ctx.gid;
    u.cid = ctx.cid;
    sessions.set(sessionKey(u), ctx.uid);
    if (u.room === undefined) return;
    const r = await roomCall(u.room, 'join', { uid: ctx.uid, name: u.name, gid: ctx.gid, cid: ctx.cid, quiet: true });
    if (r.error) report(new Error(r.error), `rejoin room ${u.room}`);
    await ctx.subscribe(roomChannel(u.room)).catch((err: unknown) => report(err, `resubscribe uid ${ctx.uid}`));
  });

  return {
    rooms: new HostedRooms(hosted),
    users,
    get ticking() {
      return ticking.size > 0;
    },
    get ticks() {
      return ticks;
    },
    stop() {
      stopped = true;
    },
  };
}

function sessionKey(s: SessionRef): string {
  return `${s.gid} ${s.cid}`;
}

/** Decodes the request body, or undefined for bytes that are not `codec`'s message. */
function parse<T>(ctx: RequestContext, codec: MessageCodec<T>): T | undefined {
  try {
    return codec.decode(ctx.body);
  } catch {
    return undefined;
  }
}
