import { type ErrorReporter, errorMessage } from '../errors.js';
import type { RequestContext, SessionContext } from '../node/context.js';
import type { Node } from '../node/node.js';
import { BOARD, GameRoute, type MessageCodec, roomChannel } from './demo-messages.js';
import { Demo } from './demo-proto.js';
import { checkChat, checkName, checkRoom, uidForName } from './game-input.js';
import { Rooms, type SessionRef, toPlayer } from './rooms.js';

/** How often each room with members gets a Positions push. */
export const TICK_MS = 100;

export interface GameOptions {
  tickMs?: number;
  /** Failures of fire-and-forget pushes; default writes one line to stderr. */
  reportError?: ErrorReporter;
}

/** A running game on one node; stop() ends its tick (the node app's stop hook calls it). */
export interface Game {
  readonly rooms: Rooms;
  /** Users logged in through this node (uid → name and session). */
  readonly users: ReadonlyMap<number, LoggedIn>;
  readonly ticking: boolean;
  readonly ticks: number;
  stop(): void;
}

interface LoggedIn extends SessionRef {
  name: string;
}

const defaultReport: ErrorReporter = (err, context) =>
  process.stderr.write(`duet demo game: ${context}: ${errorMessage(err)}\n`);

/**
 * The demo game (proto/demo.proto): login binds a uid derived from the name (stateless route, any node), the other
 * routes are stateful, so a user's membership and position live on the node it logged in through. A room spans
 * nodes through the gate channel "room:{name}": chat and each node's Positions are published there, so players bound
 * to different nodes meet in one room. Each request gets a reply with an `error` field; invalid input never throws
 * out of a handler.
 */
export function registerGame(node: Node, opts: GameOptions = {}): Game {
  const tickMs = opts.tickMs ?? TICK_MS;
  const report = opts.reportError ?? defaultReport;
  const rooms = new Rooms();
  const users = new Map<number, LoggedIn>();
  /** Session → uid of the users in `users`: a disconnect is matched by its session, whatever uid it carries. */
  const sessions = new Map<string, number>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let ticks = 0;
  let stopped = false;

  /** Publishes to the room's gate channel: every member on every node and gate gets it. */
  const publish = (room: string, route: number, body: Uint8Array): void => {
    node.proxy
      .publish({ channel: roomChannel(room), route, body })
      .catch((err: unknown) => report(err, `push route ${route} to room ${room}`));
  };

  const notice = (room: string, text: string): void =>
    publish(room, GameRoute.CHAT_PUSH, Demo.ChatMessage.encode({ uid: 0, name: '', text, room }));

  /** This node's part of the room (an empty list tells clients this node has no one left there). */
  const publishPositions = (room: string): void => {
    const players = rooms.members(room).map(toPlayer);
    publish(room, GameRoute.POSITIONS_PUSH, Demo.Positions.encode({ room, players, tick: ticks, node: node.id }));
  };

  const stopTicking = (): void => {
    clearInterval(timer);
    timer = undefined;
  };

  const onTick = (): void => {
    // The tick dies with the node even without the app's stop hook: nothing is pushed from a draining node.
    if (stopped || node.state !== 'running' || rooms.size === 0) {
      stopTicking();
      return;
    }
    ticks++;
    for (const room of rooms.names()) publishPositions(room);
  };

  const ensureTicking = (): void => {
    if (timer || stopped) return;
    timer = setInterval(onTick, tickMs);
    // A forgotten stop hook must not hold the process open.
    timer.unref();
  };

  /** The session that logged in, or undefined when this session did not log in through this node. */
  const loggedIn = (ctx: SessionContext): LoggedIn | undefined => {
    const u = users.get(ctx.uid);
    return u && u.gid === ctx.gid && u.cid === ctx.cid ? u : undefined;
  };

  /** Local state only: the caller unsubscribes a live session; a closed one lost its channels with it. */
  const leaveRoom = (uid: number, session: SessionRef): string | undefined => {
    const left = rooms.leaveSession(uid, session);
    if (!left) return undefined;
    notice(left.room, `${left.name} left`);
    publishPositions(left.room);
    return left.room;
  };

  /** Leaves the room and the room's channel (a live session: leave, logout). */
  const leaveLive = async (ctx: SessionContext): Promise<void> => {
    const room = leaveRoom(ctx.uid, ctx);
    if (room !== undefined) await ctx.unsubscribe(roomChannel(room));
  };

  /** Drops a login and its room membership; false when `session` is not the uid's current login here. */
  const forget = (uid: number, session: SessionRef): boolean => {
    const u = users.get(uid);
    if (!u || u.gid !== session.gid || u.cid !== session.cid) return false;
    leaveRoom(uid, u);
    users.delete(uid);
    sessions.delete(sessionKey(u));
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
    if (older) forget(uid, older);
    users.set(uid, { name: name.value, gid: ctx.gid, cid: ctx.cid });
    sessions.set(sessionKey(ctx), uid);
    reply('', uid, name.value);
  });

  node.addRoute(
    GameRoute.JOIN,
    async (ctx) => {
      const reply = (error: string, room = ''): void =>
        ctx.response(
          Demo.RoomState.encode({
            room,
            players: room ? rooms.members(room).map(toPlayer) : [],
            error,
            width: BOARD.WIDTH,
            height: BOARD.HEIGHT,
          }),
        );
      const user = loggedIn(ctx);
      if (!user) return reply('log in (route 100) before joining a room');
      const req = parse(ctx, Demo.JoinRoom);
      if (!req) return reply('body is not a JoinRoom message');
      const room = checkRoom(req.room);
      if (!room.ok) return reply(room.error);
      const joined = rooms.join(ctx.uid, user.name, ctx, room.value);
      if (!joined.ok) return reply(joined.error);
      try {
        if (joined.left !== undefined) await ctx.unsubscribe(roomChannel(joined.left));
        await ctx.subscribe(roomChannel(room.value));
      } catch (err) {
        rooms.leaveSession(ctx.uid, ctx);
        return reply(`join failed: ${errorMessage(err)}`);
      }
      if (joined.left !== undefined) {
        notice(joined.left, `${user.name} left`);
        publishPositions(joined.left);
      }
      reply('', room.value);
      notice(room.value, `${user.name} joined ${room.value}`);
      ensureTicking();
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.CHAT,
    (ctx) => {
      const ack = (error = ''): void => ctx.response(Demo.Ack.encode({ error }));
      const member = loggedIn(ctx) && rooms.memberOf(ctx.uid);
      if (!member) return ack('join a room (route 101) before chatting');
      const req = parse(ctx, Demo.Chat);
      if (!req) return ack('body is not a Chat message');
      const text = checkChat(req.text);
      if (!text.ok) return ack(text.error);
      publish(
        member.room,
        GameRoute.CHAT_PUSH,
        Demo.ChatMessage.encode({ uid: member.uid, name: member.name, text: text.value, room: member.room }),
      );
      ack();
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.MOVE,
    (ctx) => {
      // Moves are frequent: a client that send()s them (seq 0) gets no Ack back; request() gets one.
      const ack = (error = ''): void => {
        if (ctx.seq !== 0) ctx.response(Demo.Ack.encode({ error }));
      };
      if (!loggedIn(ctx)) return ack('join a room (route 101) before moving');
      const req = parse(ctx, Demo.Move);
      if (!req) return ack('body is not a Move message');
      ack(rooms.move(ctx.uid, req.x, req.y) ? '' : 'join a room (route 101) before moving');
    },
    { stateful: true },
  );

  node.addRoute(
    GameRoute.LEAVE,
    async (ctx) => {
      try {
        if (loggedIn(ctx)) await leaveLive(ctx);
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
        if (loggedIn(ctx)) await leaveLive(ctx);
        forget(ctx.uid, ctx);
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
    if (uid === undefined || !forget(uid, ctx)) return;
    await ctx.unbindNode(uid).catch((err: unknown) => report(err, `unbind node of uid ${uid}`));
  });

  node.on('resume', async (ctx) => {
    // A resumed session (issue 11) may come back on another gate with another cid: follow it, and put the new
    // connection on the room's channel (on the same gate the session kept its channels; subscribing is idempotent).
    const u = users.get(ctx.uid);
    if (!u) return;
    sessions.delete(sessionKey(u));
    u.gid = ctx.gid;
    u.cid = ctx.cid;
    sessions.set(sessionKey(u), ctx.uid);
    const m = rooms.memberOf(ctx.uid);
    if (!m) return;
    m.gid = ctx.gid;
    m.cid = ctx.cid;
    await ctx.subscribe(roomChannel(m.room)).catch((err: unknown) => report(err, `resubscribe uid ${ctx.uid}`));
  });

  return {
    rooms,
    users,
    get ticking() {
      return timer !== undefined;
    },
    get ticks() {
      return ticks;
    },
    stop() {
      stopped = true;
      stopTicking();
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
