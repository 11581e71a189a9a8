/**
 * Regenerates test/fixtures/captures/*.capture from the demo app's diagnostic routes (docs/architecture.md): an in-process
 * gate + demo node with a FileCaptureSink, driven by test clients. Run: `npx tsx scripts/make-captures.ts [dir]`.
 * The node id is fixed ("node-1") so whoami answers replay the same against any deployment started with
 * `--set cluster.node.id="node-1"`.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createDemoApp } from '../src/demo/app.js';
import { GameRoute } from '../src/demo/demo-messages.js';
import { Demo } from '../src/demo/demo-proto.js';
import { BusCapture } from '../src/replay/bus-capture.js';
import { CaptureWriter } from '../src/replay/capture-file.js';
import { FileCaptureSink } from '../src/replay/file-capture-sink.js';
import { connect, type Received, type WsTestClient } from '../test/harness/ws-client.js';
import { startDiagnosticCluster } from '../test/helpers/diagnostic-cluster.js';

const DEFAULT_DIR = new URL('../test/fixtures/captures/', import.meta.url).pathname;

type Scenario = (url: string) => Promise<void>;

async function withClients(n: number, url: string, run: (c: WsTestClient[]) => Promise<void>): Promise<void> {
  const clients: WsTestClient[] = [];
  try {
    for (let i = 0; i < n; i++) clients.push(await connect(url));
    await run(clients);
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
  }
}

/** Named by what they exercise; the file name is the key. */
export const SCENARIOS: Record<string, Scenario> = {
  // login (bind gate + node), a stateful route, a heartbeat (not compared), echo, logout.
  'login-whoami': (url) =>
    withClients(1, url, async ([c]) => {
      const a = c as WsTestClient;
      await a.request(2, '1001');
      await a.request(3);
      a.sendHeartbeat();
      await a.request(1, 'hello after login');
      await a.request(4);
    }),
  // 50 echoes pipelined (sent before any answer is read), bodies of growing size, then 50 answers in order.
  'echo-burst': (url) =>
    withClients(1, url, async ([c]) => {
      const a = c as WsTestClient;
      const seqs: number[] = [];
      for (let i = 0; i < 50; i++) {
        const seq = a.nextSeq();
        seqs.push(seq);
        a.sendData(1, seq, `echo ${i} ${'x'.repeat(i * 3)}`);
      }
      for (const seq of seqs) await a.next({ match: (r) => r.packet?.kind === 'data' && r.packet.seq === seq });
    }),
  // Two clients log in as the same user: the second login displaces the first (close 4003, due#90 fixed), and a
  // third connection keeps echoing through it. whoami on the survivor shows it holds the user.
  'kick-same-uid': (url) =>
    withClients(3, url, async ([a, b, c]) => {
      const first = a as WsTestClient;
      const second = b as WsTestClient;
      const bystander = c as WsTestClient;
      await first.request(2, '2002');
      await first.request(3);
      await bystander.request(1, 'before the kick');
      await second.request(2, '2002');
      await first.waitClose();
      await second.request(3);
      await bystander.request(1, 'after the kick');
    }),
};

export async function makeCapture(name: string, dir: string): Promise<string> {
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const path = join(dir, `${name}.capture`);
  await rm(path, { force: true });
  const sink = await FileCaptureSink.open({ path, source: `scripts/make-captures.ts ${name}`, maxFiles: 1 });
  const cluster = await startDiagnosticCluster({ capture: sink });
  try {
    await scenario(cluster.url);
  } finally {
    await cluster[Symbol.asyncDispose]();
    await sink.close();
  }
  return path;
}

/**
 * Bus captures of node node-1 (`duet capture --node node-1`): the envelopes the demo node received and the ops it
 * sent while a scenario ran, named `node-<scenario>.capture`; replayNode() feeds them to a node app in a test.
 */
export const NODE_SCENARIOS = ['login-whoami', 'kick-same-uid', 'chat'];

/** The demo game with its room tick out of the way (an hour), so the only pushes are the ones requests cause. */
export const CHAT_TICK_MS = 3_600_000;

const chatPush = (r: Received): boolean => r.packet?.kind === 'data' && r.packet.route === GameRoute.CHAT_PUSH;

/**
 * Node-only: two players log in, join one room and chat; every push (join notices, chat lines) is awaited by its
 * receivers before the next request, so the capture orders each push after the request that caused it.
 */
const chat: Scenario = (url) =>
  withClients(2, url, async ([x, y]) => {
    const a = x as WsTestClient;
    const b = y as WsTestClient;
    await a.request(GameRoute.LOGIN, Demo.Login.encode({ name: 'alice' }));
    await b.request(GameRoute.LOGIN, Demo.Login.encode({ name: 'bob' }));
    await a.request(GameRoute.JOIN, Demo.JoinRoom.encode({ room: 'lobby' }));
    await a.next({ match: chatPush });
    await b.request(GameRoute.JOIN, Demo.JoinRoom.encode({ room: 'lobby' }));
    await Promise.all([a.next({ match: chatPush }), b.next({ match: chatPush })]);
    await a.request(GameRoute.CHAT, Demo.Chat.encode({ text: 'hi bob' }));
    await Promise.all([a.next({ match: chatPush }), b.next({ match: chatPush })]);
    await b.request(GameRoute.CHAT, Demo.Chat.encode({ text: 'hi alice' }));
    await Promise.all([a.next({ match: chatPush }), b.next({ match: chatPush })]);
    await b.request(GameRoute.LEAVE, Demo.Leave.encode({}));
    await a.next({ match: chatPush });
  });

export async function makeNodeCapture(name: string, dir: string): Promise<string> {
  const scenario = name === 'chat' ? chat : SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const path = join(dir, `node-${name}.capture`);
  await rm(path, { force: true });
  const writer = await CaptureWriter.open({ path, source: `scripts/make-captures.ts node ${name}`, maxFiles: 1 });
  const app = name === 'chat' ? createDemoApp({ tickMs: CHAT_TICK_MS }) : undefined;
  const cluster = await startDiagnosticCluster({ app });
  const capture = await BusCapture.start({ bus: cluster.bus, writer, nid: 'node-1' });
  try {
    await scenario(cluster.url);
  } finally {
    await cluster[Symbol.asyncDispose]();
    await capture.stop();
    await writer.close();
  }
  return path;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? DEFAULT_DIR;
  await mkdir(dir, { recursive: true });
  for (const name of Object.keys(SCENARIOS)) console.log(await makeCapture(name, dir));
  for (const name of NODE_SCENARIOS) console.log(await makeNodeCapture(name, dir));
}
