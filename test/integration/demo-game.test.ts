import assert from 'node:assert/strict';
import { test } from 'node:test';
import WS from 'ws';
import { Client, type Push } from '../../src/client/index.js';
import type { ChatMessage, LoginReply, Positions, RoomState } from '../../src/demo/demo-messages.js';
import { BOARD, GameRoute } from '../../src/demo/demo-messages.js';
import { Demo } from '../../src/demo/demo-proto.js';
import { type Game, registerGame } from '../../src/demo/game.js';
import { uidForName } from '../../src/demo/game-input.js';
import { CloseCode } from '../../src/errors.js';
import { startCutProxy } from '../harness/cut-proxy.js';
import { type Embedded, startEmbedded, until } from '../harness/embedded.js';

const TICK_MS = 40;
const text = new TextDecoder();

type TestContext = { after: (fn: () => unknown) => void };

interface Player {
  client: Client;
  pushes: Push[];
  closes: number[];
  chats(): ChatMessage[];
  positions(): Positions[];
  login(name: string): Promise<LoginReply>;
  join(room: string): Promise<RoomState>;
  chat(t: string): Promise<string>;
  move(x: number, y: number): Promise<string>;
  leave(): Promise<string>;
  logout(): Promise<string>;
}

async function startGame(t: TestContext): Promise<{ e: Embedded; game: Game }> {
  let game: Game | undefined;
  const e = await startEmbedded({ register: (node) => (game = registerGame(node, { tickMs: TICK_MS })) });
  t.after(() => e[Symbol.asyncDispose]());
  t.after(() => game?.stop());
  if (!game) throw new Error('registerGame did not run');
  return { e, game };
}

async function connect(t: TestContext, e: Embedded): Promise<Player> {
  const client = new Client({ url: e.url, WebSocket: WS, reconnect: { enabled: false }, requestTimeoutMs: 5000 });
  const pushes: Push[] = [];
  const closes: number[] = [];
  client.on('push', (p) => pushes.push(p));
  client.on('close', (c) => closes.push(c.code));
  await client.connect();
  t.after(() => client.close());
  const call = async (route: number, body: Uint8Array) => (await client.request(route, body)).body;
  return {
    client,
    pushes,
    closes,
    chats: () => pushes.filter((p) => p.route === GameRoute.CHAT_PUSH).map((p) => Demo.ChatMessage.decode(p.body)),
    positions: () =>
      pushes.filter((p) => p.route === GameRoute.POSITIONS_PUSH).map((p) => Demo.Positions.decode(p.body)),
    login: async (name) => Demo.LoginReply.decode(await call(GameRoute.LOGIN, Demo.Login.encode({ name }))),
    join: async (room) => Demo.RoomState.decode(await call(GameRoute.JOIN, Demo.JoinRoom.encode({ room }))),
    chat: async (t) => Demo.Ack.decode(await call(GameRoute.CHAT, Demo.Chat.encode({ text: t }))).error,
    move: async (x, y) => Demo.Ack.decode(await call(GameRoute.MOVE, Demo.Move.encode({ x, y }))).error,
    leave: async () => Demo.Ack.decode(await call(GameRoute.LEAVE, Demo.Leave.encode({}))).error,
    logout: async () => Demo.Ack.decode(await call(GameRoute.LOGOUT, Demo.Logout.encode({}))).error,
  };
}

/** Resolves after the game has ticked `n` more times (plus one tick of slack for pushes in flight). */
async function ticks(game: Game, n: number): Promise<void> {
  const target = game.ticks + n;
  await until(() => game.ticks >= target, `${n} ticks`);
}

async function inRoom(t: TestContext, e: Embedded, name: string, room: string): Promise<Player & { uid: number }> {
  const p = await connect(t, e);
  const reply = await p.login(name);
  assert.equal(reply.error, '');
  const state = await p.join(room);
  assert.equal(state.error, '');
  return Object.assign(p, { uid: reply.uid });
}

test('demo game - login binds a uid derived from the name to gate and node; join lists the room', async (t) => {
  const { e, game } = await startGame(t);
  const alice = await connect(t, e);
  const reply = await alice.login('  alice ');
  assert.deepEqual(reply, { uid: uidForName('alice'), name: 'alice', error: '' });
  assert.equal(await e.locator.locateGate(reply.uid), e.gate.id);
  assert.equal(await e.locator.locateNode(reply.uid, 'game'), e.node.id);
  // The diagnostic whoami (stateful) reaches the node the game bound the user to.
  const who = await alice.client.request(3);
  assert.equal(text.decode(who.body), `${reply.uid}@${e.node.id}`);

  const first = await alice.join('lobby');
  assert.equal(first.error, '');
  assert.equal(first.room, 'lobby');
  assert.deepEqual([first.width, first.height], [BOARD.WIDTH, BOARD.HEIGHT]);
  assert.deepEqual(
    first.players.map((p) => p.name),
    ['alice'],
  );
  const bob = await inRoom(t, e, 'bob', 'lobby');
  assert.notEqual(bob.uid, reply.uid);
  assert.deepEqual(
    game.rooms
      .members('lobby')
      .map((m) => m.name)
      .sort(),
    ['alice', 'bob'],
  );
  // Alice hears about bob through a notice (uid 0) on the chat push route.
  await until(() => alice.chats().some((c) => c.uid === 0 && c.text === 'bob joined lobby'), 'join notice');
  assert.equal(game.ticking, true);
});

test('demo game - chat is multicast to the members of the sender room only', async (t) => {
  const { e } = await startGame(t);
  const alice = await inRoom(t, e, 'alice', 'red');
  const bob = await inRoom(t, e, 'bob', 'red');
  const carol = await inRoom(t, e, 'carol', 'blue');

  assert.equal(await alice.chat('hello red'), '');
  const fromAlice = (p: Player) => p.chats().filter((c) => c.uid === alice.uid);
  await until(() => fromAlice(bob).length === 1 && fromAlice(alice).length === 1, 'alice chat at alice and bob');
  assert.deepEqual(fromAlice(bob)[0], { uid: alice.uid, name: 'alice', text: 'hello red', room: 'red' });

  // Carol's own line is multicast after alice's on the same gate link: once she has it, alice's would have arrived.
  assert.equal(await carol.chat('hello blue'), '');
  await until(() => carol.chats().some((c) => c.text === 'hello blue'), 'carol chat at carol');
  assert.deepEqual(fromAlice(carol), []);
  assert.equal(
    bob.chats().some((c) => c.text === 'hello blue'),
    false,
  );
});

test('demo game - the tick pushes positions to room members only, with moves clamped to the board', async (t) => {
  const { e, game } = await startGame(t);
  const alice = await inRoom(t, e, 'alice', 'red');
  const bob = await inRoom(t, e, 'bob', 'red');
  const carol = await inRoom(t, e, 'carol', 'blue');
  const dave = await connect(t, e);
  assert.equal((await dave.login('dave')).error, '');

  assert.equal(await alice.move(100, 200), '');
  const aliceAt = (p: Player, x: number, y: number) =>
    p.positions().some((m) => m.players.some((pl) => pl.uid === alice.uid && pl.x === x && pl.y === y));
  await until(() => aliceAt(bob, 100, 200), 'bob sees alice at 100,200');
  assert.equal(await alice.move(-50, 99_999), '');
  await until(() => aliceAt(bob, 0, BOARD.HEIGHT), 'bob sees alice clamped to the board');

  // A move sent without a seq (client.send) gets no Ack push back.
  const before = alice.pushes.filter((p) => p.route === GameRoute.MOVE).length;
  alice.client.send(GameRoute.MOVE, Demo.Move.encode({ x: 7, y: 8 }));
  await until(() => aliceAt(bob, 7, 8), 'bob sees the fire-and-forget move');
  assert.equal(alice.pushes.filter((p) => p.route === GameRoute.MOVE).length, before);

  await ticks(game, 3);
  for (const m of carol.positions()) {
    assert.equal(m.room, 'blue');
    assert.deepEqual(
      m.players.map((p) => p.name),
      ['carol'],
    );
  }
  assert.ok(carol.positions().length > 0, 'carol gets her own room positions');
  assert.equal(dave.positions().length, 0, 'a user in no room gets no positions');
  for (const m of bob.positions()) assert.equal(m.room, 'red');
});

test('demo game - leave and logout stop the pushes and unbind the user', async (t) => {
  const { e, game } = await startGame(t);
  const alice = await inRoom(t, e, 'alice', 'red');
  const bob = await inRoom(t, e, 'bob', 'red');

  assert.equal(await bob.leave(), '');
  assert.equal(game.rooms.memberOf(bob.uid), undefined);
  await until(() => alice.chats().some((c) => c.uid === 0 && c.text === 'bob left'), 'leave notice');
  await ticks(game, 2);
  const bobCount = bob.positions().length;
  const last = alice.positions().at(-1);
  assert.deepEqual(
    last?.players.map((p) => p.name),
    ['alice'],
  );
  await ticks(game, 3);
  assert.equal(bob.positions().length, bobCount, 'no positions after leaving');
  // Still logged in: bob can join again.
  assert.equal((await bob.join('red')).error, '');

  assert.equal(await alice.logout(), '');
  assert.equal(game.users.has(alice.uid), false);
  assert.equal(await e.locator.locateGate(alice.uid), undefined);
  assert.equal(await e.locator.locateNode(alice.uid, 'game'), undefined);
  assert.equal(await bob.logout(), '');
  assert.equal(game.rooms.size, 0);
  await until(() => !game.ticking, 'the tick stops when every room is empty');
});

test('demo game - a disconnect removes the user from its room and unbinds its node', async (t) => {
  const { e, game } = await startGame(t);
  const alice = await inRoom(t, e, 'alice', 'red');
  const bob = await inRoom(t, e, 'bob', 'red');
  await bob.client.close();
  await until(() => game.rooms.memberOf(bob.uid) === undefined, 'bob removed from the room');
  await until(() => alice.chats().some((c) => c.text === 'bob left'), 'leave notice after disconnect');
  await until(
    () =>
      alice
        .positions()
        .at(-1)
        ?.players.every((p) => p.uid !== bob.uid) === true,
    'positions without bob',
  );
  assert.equal(game.users.has(bob.uid), false);
  assert.equal(await e.locator.locateNode(bob.uid, 'game'), undefined);

  await alice.client.close();
  await until(() => game.rooms.size === 0 && !game.ticking, 'empty rooms, no tick');
});

test('demo game - a second login with the same name displaces the first session, which keeps nothing', async (t) => {
  const { e, game } = await startGame(t);
  const first = await inRoom(t, e, 'alice', 'red');
  const bob = await inRoom(t, e, 'bob', 'red');
  const second = await connect(t, e);
  assert.equal((await second.login('alice')).error, '');
  await until(() => first.closes.length > 0, 'the first session closed');
  assert.equal(first.closes[0], CloseCode.DISPLACED);
  // The displaced session left its room at once: no ghost player in bob's positions.
  assert.deepEqual(
    game.rooms.members('red').map((m) => m.name),
    ['bob'],
  );
  await until(() => bob.chats().some((c) => c.text === 'alice left'), 'leave notice for the displaced session');
  const state = await second.join('red');
  assert.equal(state.error, '');
  // The displaced session's disconnect event (handled by now) must not remove the new one.
  await until(() => e.node.counters.events >= 1, 'the disconnect event of the first session');
  await ticks(game, 2);
  assert.equal(game.users.get(first.uid)?.name, 'alice');
  assert.deepEqual(
    game.rooms
      .members('red')
      .map((m) => m.name)
      .sort(),
    ['alice', 'bob'],
  );
  assert.equal(await second.chat('still here'), '');
  await until(() => second.chats().some((c) => c.text === 'still here'), 'the new session chats');
  assert.equal(await e.locator.locateNode(first.uid, 'game'), e.node.id, 'the new session keeps its node binding');
});

test('demo game - bad input gets an error reply, never a dropped request', async (t) => {
  const { e } = await startGame(t);
  const p = await connect(t, e);
  const loginRaw = async (body: Uint8Array) =>
    Demo.LoginReply.decode((await p.client.request(GameRoute.LOGIN, body)).body).error;
  assert.match(await loginRaw(new Uint8Array([0xff, 0xff, 0xff])), /not a Login/);
  assert.match((await p.login('   ')).error, /must not be empty/);
  assert.match((await p.login('x'.repeat(21))).error, /at most 20/);
  assert.equal((await p.login('zed')).error, '');
  assert.match((await p.login('zed')).error, /already logged in/);
  assert.match(await p.chat('too early'), /join a room/);
  assert.match(await p.move(1, 1), /join a room/);
  assert.match((await p.join('no/slashes')).error, /letters, digits/);
  assert.match((await p.join('')).error, /must not be empty/);
  assert.equal((await p.join('ok room')).error, '');
  assert.match(await p.chat('   '), /must not be empty/);
  assert.match(await p.chat('y'.repeat(281)), /at most 280/);
  const badChat = Demo.Ack.decode((await p.client.request(GameRoute.CHAT, new Uint8Array([0x0a, 0x05]))).body);
  assert.match(badChat.error, /not a Chat/);
  assert.equal(await p.chat('fine\u0000 text'), '');
  await until(() => p.chats().some((c) => c.text === 'fine  text'), 'control characters replaced');
});

test('demo game - players bound to different nodes meet in one room through its gate channel', async (t) => {
  const games: Game[] = [];
  const register = (node: Parameters<typeof registerGame>[0]) => {
    games.push(registerGame(node, { tickMs: TICK_MS }));
  };
  const one = await startEmbedded({ register });
  const two = await startEmbedded({
    register,
    shared: { bus: one.bus, locator: one.locator, registry: one.registry },
  });
  t.after(async () => {
    for (const g of games) g.stop();
    await two[Symbol.asyncDispose]();
    await one[Symbol.asyncDispose]();
  });
  // Login is stateless (a random node): log in names over both gates until each node holds one player.
  const onNode = new Map<string, Player & { uid: number }>();
  const deadline = Date.now() + 10_000;
  for (let i = 0; onNode.size < 2; i++) {
    assert.ok(Date.now() < deadline, 'logins never reached both nodes');
    const p = await connect(t, i % 2 === 0 ? one : two);
    const reply = await p.login(`walker${i}`);
    assert.equal(reply.error, '');
    const nid = (await one.locator.locateNode(reply.uid, 'game')) ?? '';
    if (onNode.has(nid)) await p.client.close();
    else onNode.set(nid, Object.assign(p, { uid: reply.uid }));
  }
  const a = onNode.get(one.node.id);
  const b = onNode.get(two.node.id);
  assert.ok(a && b);
  assert.equal((await a.join('world')).error, '');
  assert.equal((await b.join('world')).error, '');

  assert.equal(await a.chat('from node one'), '');
  assert.equal(await b.chat('from node two'), '');
  await until(() => b.chats().some((c) => c.text === 'from node one'), 'chat across nodes (one → two)');
  await until(() => a.chats().some((c) => c.text === 'from node two'), 'chat across nodes (two → one)');

  // The room is one actor on one node: its Positions hold both players, whichever node they logged in through.
  const hostOf = () => [one.node, two.node].find((n) => n.actors.get('room', 'world'));
  assert.ok(hostOf(), 'the room runs on one of the nodes');
  assert.equal(
    [one.node, two.node].filter((n) => n.actors.get('room', 'world')).length,
    1,
    'one activation of the room',
  );
  const host = hostOf()?.id as string;
  assert.equal(await a.move(321, 123), '');
  const both = (p: Player) =>
    p
      .positions()
      .some(
        (m) =>
          m.node === host &&
          m.players.some((pl) => pl.uid === a.uid && pl.x === 321) &&
          m.players.some((pl) => pl.uid === b.uid),
      );
  await until(() => both(b), 'b sees a (node one) move, beside itself');
  await until(() => both(a), 'a sees b (node two) in the same room state');

  assert.equal(await a.leave(), '');
  await until(
    () =>
      b
        .positions()
        .at(-1)
        ?.players.every((pl) => pl.uid !== a.uid) === true,
    'positions without a after it left',
  );
});

test('demo game - a resumed session (another gate) stays in its room, chats and gets the room pushes', async (t) => {
  const resume = { windowMs: 5000, bufferMessages: 2000, bufferBytes: 1 << 20, route: -1, secret: 'demo-secret' };
  let game: Game | undefined;
  const a = await startEmbedded({ resume, register: (node) => (game = registerGame(node, { tickMs: TICK_MS })) });
  const b = await startEmbedded({
    resume,
    withNode: false,
    shared: { bus: a.bus, locator: a.locator, registry: a.registry },
  });
  const relay = await startCutProxy(a.port);
  t.after(async () => {
    game?.stop();
    await relay[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
  });
  const bob = await inRoom(t, b, 'bob', 'red');
  const client = new Client({
    url: relay.url,
    WebSocket: WS,
    heartbeat: { intervalMs: 0 },
    reconnect: { initialDelayMs: 30, maxDelayMs: 200, jitter: 0 },
    requestTimeoutMs: 3000,
  });
  t.after(() => client.close().catch(() => {}));
  const resumed: number[] = [];
  const chats: ChatMessage[] = [];
  client.on('resumed', (r) => resumed.push(r.uid));
  client.on('push', (p) => {
    if (p.route === GameRoute.CHAT_PUSH) chats.push(Demo.ChatMessage.decode(p.body));
  });
  await client.connect();
  const login = Demo.LoginReply.decode(
    (await client.request(GameRoute.LOGIN, Demo.Login.encode({ name: 'alice' }))).body,
  );
  assert.equal(login.error, '');
  const joined = Demo.RoomState.decode(
    (await client.request(GameRoute.JOIN, Demo.JoinRoom.encode({ room: 'red' }))).body,
  );
  assert.equal(joined.error, '');

  relay.upstream = b.port;
  relay.cutAll();
  await until(() => resumed.length === 1, 'the session resumed on gate b');
  await until(() => game?.users.get(login.uid)?.gid === b.gate.id, 'the game follows the session to gate b');
  assert.equal(game?.rooms.memberOf(login.uid)?.room, 'red');
  assert.ok(!bob.chats().some((c) => c.text === 'alice left'), 'no leave on a resume');

  const ack = Demo.Ack.decode((await client.request(GameRoute.CHAT, Demo.Chat.encode({ text: 'back again' }))).body);
  assert.equal(ack.error, '');
  await until(() => bob.chats().some((c) => c.text === 'back again'), 'bob hears the resumed alice');
  assert.equal(await bob.chat('welcome back'), '');
  await until(() => chats.some((c) => c.text === 'welcome back'), 'the resumed alice hears the room');
});
