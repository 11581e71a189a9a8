// The demo page: log in with a name, join a room, move (arrow keys or a click) and chat. Bundled by esbuild at
// `duet dev` start-up (src/demo/static.ts); talks to the gate over a WebSocket on the page's own origin, path "/".
import protobuf from 'protobufjs';
import demoProtoText from '../proto/demo.proto';
import { Client, type ClientOptions, type Push } from '../src/client/index.js';
import { BOARD, demoMessages, GameRoute, type Player, type Positions } from '../src/demo/demo-messages.js';
import { CloseCode } from '../src/errors.js';

const M = demoMessages(protobuf.parse(demoProtoText, { keepCase: false }).root);
const STEP = 10;

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

const ui = {
  status: el('status'),
  error: el('error'),
  loginForm: el<HTMLFormElement>('login-form'),
  name: el<HTMLInputElement>('name'),
  roomPanel: el('room-panel'),
  whoami: el('whoami'),
  joinForm: el<HTMLFormElement>('join-form'),
  room: el<HTMLInputElement>('room'),
  leave: el<HTMLButtonElement>('leave'),
  logout: el<HTMLButtonElement>('logout'),
  game: el('game'),
  board: el('board'),
  roomTitle: el('room-title'),
  chatLog: el('chat-log'),
  chatForm: el<HTMLFormElement>('chat-form'),
  chatInput: el<HTMLInputElement>('chat-input'),
};

/** A node's part of the room not refreshed for this long is dropped (the node stopped, or its players left). */
const PART_STALE_MS = 1000;
const RESUME_WAIT_MS = 1000;

interface State {
  me: { uid: number; name: string } | undefined;
  room: string | undefined;
  pos: { x: number; y: number };
  dots: Map<number, HTMLElement>;
  /** The room's players by the node that holds them (a room spans nodes), with when each part arrived. */
  parts: Map<string, { players: Player[]; at: number }>;
}
const state: State = { me: undefined, room: undefined, pos: { x: 0, y: 0 }, dots: new Map(), parts: new Map() };

function showError(message: string): void {
  ui.error.textContent = message;
}

function setStatus(text: string, s: 'connecting' | 'open' | 'closed'): void {
  ui.status.textContent = text;
  ui.status.dataset.state = s;
}

/** Packet settings must match the gate's; the server publishes them next to the page. */
async function serverOptions(): Promise<Partial<ClientOptions>> {
  try {
    const r = await fetch('/config.json');
    if (!r.ok) return {};
    const c = (await r.json()) as { packet?: ClientOptions['packet']; heartbeatIntervalMs?: number };
    return { packet: c.packet, heartbeat: c.heartbeatIntervalMs ? { intervalMs: c.heartbeatIntervalMs } : undefined };
  } catch {
    return {};
  }
}

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
let client: Client;

async function login(name: string): Promise<boolean> {
  const reply = M.LoginReply.decode((await client.request(GameRoute.LOGIN, M.Login.encode({ name }))).body);
  if (reply.error) {
    showError(reply.error);
    return false;
  }
  state.me = { uid: reply.uid, name: reply.name };
  ui.whoami.textContent = `${reply.name} (uid ${reply.uid})`;
  ui.loginForm.hidden = true;
  ui.roomPanel.hidden = false;
  showError('');
  return true;
}

async function join(room: string): Promise<void> {
  const reply = M.RoomState.decode((await client.request(GameRoute.JOIN, M.JoinRoom.encode({ room }))).body);
  if (reply.error) {
    showError(reply.error);
    return;
  }
  state.room = reply.room;
  state.parts.clear();
  const mine = reply.players.find((p) => p.uid === state.me?.uid);
  if (mine) state.pos = { x: mine.x, y: mine.y };
  ui.roomTitle.textContent = `Room ${reply.room}`;
  ui.game.hidden = false;
  ui.leave.disabled = false;
  showError('');
  render(reply.players);
  ui.room.blur();
}

function leftRoom(): void {
  state.room = undefined;
  state.parts.clear();
  ui.game.hidden = true;
  ui.leave.disabled = true;
  render([]);
}

function loggedOut(): void {
  leftRoom();
  state.me = undefined;
  ui.roomPanel.hidden = true;
  ui.loginForm.hidden = false;
  ui.name.focus();
}

function render(players: Player[]): void {
  const seen = new Set<number>();
  for (const p of players) {
    seen.add(p.uid);
    let dot = state.dots.get(p.uid);
    if (!dot) {
      dot = document.createElement('div');
      dot.className = p.uid === state.me?.uid ? 'player me' : 'player';
      const label = document.createElement('span');
      label.textContent = p.name;
      dot.append(label);
      dot.dataset.uid = String(p.uid);
      dot.dataset.name = p.name;
      ui.board.append(dot);
      state.dots.set(p.uid, dot);
    }
    // The own dot follows local input at once; the server's copy only catches up on the next tick.
    const at = p.uid === state.me?.uid ? state.pos : p;
    dot.dataset.x = String(at.x);
    dot.dataset.y = String(at.y);
    dot.style.transform = `translate(${at.x}px, ${at.y}px)`;
  }
  for (const [uid, dot] of state.dots) {
    if (!seen.has(uid)) {
      dot.remove();
      state.dots.delete(uid);
    }
  }
}

function addChatLine(name: string, text: string, notice: boolean): void {
  const li = document.createElement('li');
  li.textContent = notice ? text : `${name}: ${text}`;
  if (notice) li.className = 'notice';
  ui.chatLog.append(li);
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

function onPush(p: Push): void {
  if (p.route === GameRoute.CHAT_PUSH) {
    const m = M.ChatMessage.decode(p.body);
    if (m.room === state.room) addChatLine(m.name, m.text, m.uid === 0);
  } else if (p.route === GameRoute.POSITIONS_PUSH) {
    const m: Positions = M.Positions.decode(p.body);
    if (m.room === state.room) onPositions(m);
  }
}

function onPositions(m: Positions): void {
  const now = Date.now();
  if (m.players.length === 0) state.parts.delete(m.node);
  else state.parts.set(m.node, { players: m.players, at: now });
  const byUid = new Map<number, Player>();
  for (const [node, part] of state.parts) {
    if (now - part.at > PART_STALE_MS) state.parts.delete(node);
    else for (const p of part.players) byUid.set(p.uid, p);
  }
  render([...byUid.values()]);
}

function moveTo(x: number, y: number): void {
  if (!state.room || client.state !== 'open') return;
  state.pos = {
    x: Math.min(BOARD.WIDTH, Math.max(0, Math.round(x))),
    y: Math.min(BOARD.HEIGHT, Math.max(0, Math.round(y))),
  };
  client.send(GameRoute.MOVE, M.Move.encode(state.pos));
  const me = state.me && state.dots.get(state.me.uid);
  if (me) {
    me.dataset.x = String(state.pos.x);
    me.dataset.y = String(state.pos.y);
    me.style.transform = `translate(${state.pos.x}px, ${state.pos.y}px)`;
  }
}

const ARROWS: Record<string, [number, number]> = {
  ArrowLeft: [-STEP, 0],
  ArrowRight: [STEP, 0],
  ArrowUp: [0, -STEP],
  ArrowDown: [0, STEP],
};

/** Runs an action from a form or button; failures (timeouts, a dropped connection) land in the error line. */
function action(run: () => Promise<unknown>): void {
  run().catch((err: unknown) => showError(err instanceof Error ? err.message : String(err)));
}

function wire(): void {
  ui.loginForm.addEventListener('submit', (e) => {
    e.preventDefault();
    action(() => login(ui.name.value));
  });
  ui.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    action(() => join(ui.room.value));
  });
  ui.leave.addEventListener('click', () =>
    action(async () => {
      await client.request(GameRoute.LEAVE, M.Leave.encode({}));
      leftRoom();
    }),
  );
  ui.logout.addEventListener('click', () =>
    action(async () => {
      await client.request(GameRoute.LOGOUT, M.Logout.encode({}));
      loggedOut();
    }),
  );
  ui.chatForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.chatInput.value;
    action(async () => {
      const ack = M.Ack.decode((await client.request(GameRoute.CHAT, M.Chat.encode({ text }))).body);
      if (ack.error) showError(ack.error);
      else ui.chatInput.value = '';
    });
  });
  ui.board.addEventListener('click', (e) => {
    const r = ui.board.getBoundingClientRect();
    // Board coordinates start inside its border (clientLeft/Top), where the dots are positioned.
    moveTo(e.clientX - r.left - ui.board.clientLeft, e.clientY - r.top - ui.board.clientTop);
  });
  // Arrow keys move the player unless the player is typing (chat, name, room).
  document.addEventListener('keydown', (e) => {
    const d = ARROWS[e.key];
    if (!d || e.target instanceof HTMLInputElement) return;
    e.preventDefault();
    moveTo(state.pos.x + d[0], state.pos.y + d[1]);
  });
}

/** The gate's answer to the resume request the client sends first after a reconnect (true: resumed). */
let onResumeAnswer: ((resumed: boolean) => void) | undefined;

/**
 * Waits for that answer. A gate with session resume on (issue 11) answers at once; with resume off (due's
 * behaviour, the default) nothing comes, so after RESUME_WAIT_MS the page logs in again.
 */
function resumeAnswer(): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (resumed: boolean): void => {
      clearTimeout(timer);
      onResumeAnswer = undefined;
      resolve(resumed);
    };
    const timer = setTimeout(() => finish(false), RESUME_WAIT_MS);
    onResumeAnswer = finish;
  });
}

async function main(): Promise<void> {
  client = new Client({ url: wsUrl, ...(await serverOptions()) });
  client.on('push', onPush);
  client.on('resumed', () => onResumeAnswer?.(true));
  client.on('resumeFailed', () => onResumeAnswer?.(false));
  client.on('open', ({ isReconnect }) => {
    setStatus(`connected to ${location.host}`, 'open');
    if (!isReconnect || !state.me) return;
    const room = state.room;
    action(async () => {
      // A resumed session is still logged in and in its room; otherwise log in and join again.
      if (await resumeAnswer()) return;
      if (state.me && (await login(state.me.name)) && room) await join(room);
    });
  });
  client.on('close', ({ code, willReconnect }) => {
    setStatus(willReconnect ? `connection lost (${code}), reconnecting…` : `disconnected (${code})`, 'closed');
    // Displaced (the same name logged in elsewhere) or kicked: logging in again on reconnect would displace the
    // other page in turn, forever. Back to the login form instead.
    if (code === CloseCode.DISPLACED || code === CloseCode.KICKED) {
      loggedOut();
      showError(code === CloseCode.DISPLACED ? 'this name logged in from another page' : 'kicked by the server');
    }
  });
  client.on('error', (err) => console.warn('duet client:', err));
  wire();
  ui.name.focus();
  await client.connect();
}

action(main);
