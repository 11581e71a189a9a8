/**
 * Batches bigger than the NATS server's max_payload (issue 20, case 1): a gate and a node in this process, each on
 * its own connection to a real nats-server. 300 clients × 10 echo requests of 4,900 B at once, and one handler
 * pushing 300 × 4,000 B, used to build node→gate batches over 1 MiB that the server refused: replies vanished
 * without a log line. Every reply must arrive now.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connectNatsBus, type NatsBus } from '../../src/bus/nats-bus.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { Gate } from '../../src/gate/gate.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import type { Log, LogFields } from '../../src/log/types.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';

const CLIENTS = 300;
const PER_CLIENT = 10;
const ECHO_BYTES = 4_900;
const PUSHES = 300;
const PUSH_BYTES = 4_000;
const BURST_ROUTE = 50;

/** A log that keeps warn/error lines, so the test can show what was (or was not) reported. */
function recordingLog(lines: string[]): Log {
  const log: Log = {
    debug: () => {},
    info: () => {},
    warn: (msg: string, f?: LogFields) => void lines.push(`warn ${msg} ${JSON.stringify(f ?? {})}`),
    error: (msg: string, f?: LogFields) => void lines.push(`error ${msg} ${JSON.stringify(f ?? {})}`),
    child: () => log,
  };
  return log;
}

describe('bus payload limit - batches over max_payload are split, nothing lost', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  const buses: NatsBus[] = [];
  let gate: Gate;
  let node: Node;
  let url: string;
  const lines: string[] = [];
  const busErrors: string[] = [];
  const clients: WsTestClient[] = [];

  before(async () => {
    nats = await startNats();
    const prefix = `pl${randomUUID().slice(0, 8)}`;
    const open = async (name: string): Promise<NatsBus> => {
      const b = await connectNatsBus({
        servers: [nats.url],
        name,
        onError: (err, context) => busErrors.push(`${context}: ${String(err)}`),
      });
      buses.push(b);
      return b;
    };
    const [gateBus, nodeBus] = [await open('gate'), await open('node')];
    const locator = new MemoryLocator();
    const registry = new MemoryRegistry();
    const codec = new PacketCodec();
    const log = recordingLog(lines);
    node = new Node({ name: 'game', bus: nodeBus, locator, registry, codec, prefix, log });
    registerDiagnostics(node);
    const push = new Uint8Array(PUSH_BYTES).fill(0x70);
    node.addRoute(BURST_ROUTE, (ctx) => {
      for (let i = 0; i < PUSHES; i++) ctx.reply(BURST_ROUTE, push);
      ctx.response(new TextEncoder().encode('done'));
    });
    await node.start();
    const transport = createWsTransport({
      host: '127.0.0.1',
      port: 0,
      maxPayload: codec.maxFrameBytes,
      maxConnNum: CLIENTS + 10,
    });
    gate = new Gate({ bus: gateBus, locator, registry, transport, codec, prefix, log });
    await gate.start();
    url = `ws://127.0.0.1:${gate.address?.port}/`;
    for (let i = 0; i < CLIENTS; i += 50) {
      clients.push(...(await Promise.all(Array.from({ length: Math.min(50, CLIENTS - i) }, () => connect(url)))));
    }
  });

  after(async () => {
    await Promise.all(clients.map((c) => c[Symbol.asyncDispose]().catch(() => {})));
    await gate?.stop({ graceful: false });
    await node?.stop();
    await Promise.all(buses.map((b) => b.drain()));
    await nats?.[Symbol.asyncDispose]();
  });

  it('bus payload limit - 300 clients × 10 echo requests of 4,900 B at once: every reply arrives', async (t) => {
    const body = new Uint8Array(ECHO_BYTES).fill(0x65);
    const answers = await Promise.all(
      clients.flatMap((c) =>
        Array.from({ length: PER_CLIENT }, () =>
          c.request(1, body, 20_000).then(
            (r) => r.body.length === ECHO_BYTES,
            () => false,
          ),
        ),
      ),
    );
    const lost = answers.filter((ok) => !ok).length;
    t.diagnostic(`echo: ${lost} of ${answers.length} replies lost`);
    assert.equal(lost, 0, `lost ${lost} of ${answers.length}; bus errors: ${busErrors.slice(0, 3).join('; ')}`);
    assert.deepEqual(busErrors, [], 'no publish was refused');
  });

  it('bus payload limit - one handler pushes 300 × 4,000 B: every push arrives', async (t) => {
    const c = clients[0] as WsTestClient;
    const done = await c.request(BURST_ROUTE, '', 20_000);
    assert.equal(done.text, 'done');
    let got = 0;
    for (let i = 0; i < PUSHES; i++) {
      const r = await c.nextOrNone(5_000, (x) => x.packet?.kind === 'data' && x.packet.route === BURST_ROUTE);
      if (r === undefined) break;
      got++;
    }
    t.diagnostic(`pushes: ${PUSHES - got} of ${PUSHES} lost`);
    assert.equal(got, PUSHES, `${PUSHES - got} pushes lost; bus errors: ${busErrors.slice(0, 3).join('; ')}`);
    assert.deepEqual(busErrors, []);
  });
});
