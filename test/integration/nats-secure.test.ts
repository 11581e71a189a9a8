import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectReplies } from '../../src/admin/replies.js';
import { GateOpsCodec, NodeBatchCodec, SessionKind } from '../../src/bus/envelope.js';
import { connectNatsBus, type NatsBus } from '../../src/bus/nats-bus.js';
import { DEFAULT_NATS_REGISTRY_BUCKET } from '../../src/config/schema.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { errorMessage } from '../../src/errors.js';
import { gateAdminResponder } from '../../src/gate/admin-responder.js';
import { Gate } from '../../src/gate/gate.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { nodeAdminResponder } from '../../src/node/admin-responder.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { createNatsRegistry } from '../../src/registry/nats-registry.js';
import type { Registry } from '../../src/registry/registry.js';
import { LeaseHolder } from '../../src/trace/lease-holder.js';
import { TraceLeases } from '../../src/trace/trace-leases.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * The shipped config/nats-secure.conf on a real nats-server: a gate and a node, each signed in as its role's user
 * (bus and NATS KV registry), serve echo, login and push with no permission error anywhere; the admin user's
 * forged gate operation and node delivery are refused by the server and reach nobody; anonymous clients are
 * refused outright.
 */

const CONF = join(dirname(fileURLToPath(import.meta.url)), '../../config/nats-secure.conf');
const PASS = { gate: 'gate-secret-pw', node: 'node-secret-pw', admin: 'admin-secret-pw' };
const ECHO = 1;
const LOGIN = 2;

type Role = keyof typeof PASS;

describe('nats secure - the example nats-server configuration', { timeout: 60_000 }, () => {
  let nats: NatsServer;
  const errors: Record<Role, string[]> = { gate: [], node: [], admin: [] };
  const buses: NatsBus[] = [];
  const registries: Registry[] = [];
  const locator = new MemoryLocator();
  const codec = new PacketCodec();
  let node: Node;
  let gate: Gate;
  let client: WsTestClient;
  const responders: { start(): Promise<void>; close(): Promise<void> }[] = [];

  const bus = async (role: Role): Promise<NatsBus> => {
    const b = await connectNatsBus({
      servers: [nats.url],
      user: `duet-${role}`,
      pass: PASS[role],
      onError: (err, context) => errors[role].push(`${context}: ${errorMessage(err)}`),
    });
    buses.push(b);
    return b;
  };
  const registry = async (role: Role): Promise<Registry> => {
    const r = await createNatsRegistry({
      servers: [nats.url],
      user: `duet-${role}`,
      pass: PASS[role],
      bucket: DEFAULT_NATS_REGISTRY_BUCKET,
      onError: (err, context) => errors[role].push(`registry ${context}: ${errorMessage(err)}`),
    });
    registries.push(r);
    return r;
  };

  before(async () => {
    nats = await startNats({
      jetstream: true,
      args: ['-c', CONF],
      env: { DUET_NATS_GATE_PASS: PASS.gate, DUET_NATS_NODE_PASS: PASS.node, DUET_NATS_ADMIN_PASS: PASS.admin },
    });
    const nodeBus = await bus('node');
    node = new Node({
      id: 'node-s1',
      name: 'game',
      bus: nodeBus,
      locator,
      registry: await registry('node'),
      codec,
    });
    registerDiagnostics(node);
    node.services.provide('calc', { upper: (call) => new TextDecoder().decode(call.body).toUpperCase() });
    await node.start();
    const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: codec.maxFrameBytes });
    const gateBus = await bus('gate');
    const gateRegistry = await registry('gate');
    const leases = new TraceLeases({ bus: gateBus, gid: 'gate-s1' });
    await leases.start();
    gate = new Gate({
      id: 'gate-s1',
      trace: leases,
      bus: gateBus,
      locator,
      registry: gateRegistry,
      transport,
      codec,
      heartbeatIntervalMs: 0,
    });
    await gate.start();
    responders.push(
      leases,
      gateAdminResponder({ bus: gateBus, gate, locator, registry: gateRegistry, transport, version: 'test' }),
      nodeAdminResponder({ bus: nodeBus, node, version: 'test' }),
    );
    for (const r of responders) await r.start();
    client = await WsTestClient.connect(`ws://127.0.0.1:${gate.address?.port}/`);
  });

  after(async () => {
    for (const r of responders) await r.close();
    await client?.[Symbol.asyncDispose]();
    await gate?.stop({ graceful: false });
    await node?.stop();
    for (const r of registries) await r[Symbol.asyncDispose]();
    for (const b of buses) await b.drain();
    await locator[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('nats secure - gate and node as their users: echo, login and push work, no permission is missing', async () => {
    // The gate learns the node's routes from the registry (KV watch under the gate user's rights).
    const end = Date.now() + 15_000;
    let echoed: string | undefined;
    while (echoed === undefined && Date.now() < end) {
      echoed = await client.request(ECHO, 'hello', 500).then(
        (r) => r.text,
        () => undefined,
      );
    }
    assert.equal(echoed, 'hello');
    assert.equal((await client.request(LOGIN, '8001')).text, '8001');
    const pushed = await node.proxy.push({ kind: SessionKind.USER, target: 8001, route: 9, body: 'pushed', ack: true });
    assert.equal(pushed, 1);
    const got = await client.next({ timeoutMs: 3000, match: (r) => r.packet?.kind === 'data' && r.packet.route === 9 });
    assert.equal(Buffer.from(got.packet?.kind === 'data' ? got.packet.body : []).toString(), 'pushed');
    // Mesh RPC between nodes (here the node calls itself through NATS) under the node user's rights.
    assert.match((await node.services.call('calc', 'upper', 'abc')).text(), /ABC/);
    assert.deepEqual(errors.gate, [], 'the gate user has every right the gate uses');
    assert.deepEqual(errors.node, [], 'the node user has every right the node uses');
    assert.doesNotMatch(await nats.logTail(200), /Permissions Violation/);
  });

  it('nats secure - the admin user cannot send gate operations or node deliveries; anonymous clients are refused', async () => {
    const admin = await bus('admin');
    const deliveredBefore = node.counters.delivered;
    const opErrorsBefore = gate.counters.opErrors;
    // A forged kick of every session of uid 8001, and a forged delivery of a login packet to the node.
    const kick = { id: 0, disconnect: { kind: SessionKind.USER, target: 8001, force: true } };
    admin.publish('duet.gates.op', GateOpsCodec.encode({ nid: '', reply: '', ops: [kick] }));
    admin.publish('duet.gate.gate-s1.op', GateOpsCodec.encode({ nid: '', reply: '', ops: [kick] }));
    const login = codec.encode({ route: LOGIN, seq: 1, body: new TextEncoder().encode('8002') });
    admin.publish(
      'duet.node.node-s1.deliver',
      NodeBatchCodec.encode({ gid: 'gate-s1', items: [{ deliver: { cid: 1, uid: 0, packet: login } }] }),
    );
    await admin.flush();
    const end = Date.now() + 5000;
    while (errors.admin.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(errors.admin.length, 3, `three refusals, got: ${errors.admin.join('; ')}`);
    for (const e of errors.admin) assert.match(e, /permissions violation for publish/i);
    // Nothing reached the gate or the node: the session lives and is served, the node saw no delivery.
    assert.equal((await client.request(ECHO, 'still here')).text, 'still here');
    assert.equal(client.isOpen, true);
    assert.equal(gate.sessions.byUid(8001)?.uid, 8001);
    assert.equal(node.counters.delivered, deliveredBefore + 1, 'only the echo above');
    assert.equal(gate.counters.opErrors, opErrorsBefore);
    assert.equal(await locator.locateGate(8002), undefined, 'the forged login bound nothing');
    await assert.rejects(connectNatsBus({ servers: [nats.url], maxReconnectAttempts: 0 }), /authorization/i);
  });

  it('nats secure - a node user cannot kick through the admin subject; the admin user can trace, ask and kick', async () => {
    const nodeUser = await bus('node');
    const before = errors.node.length;
    nodeUser.publish(
      'duet.admin',
      new TextEncoder().encode(JSON.stringify({ cmd: 'kick', uid: 8001, reply: 'duet.admin.reply.x' })),
    );
    await nodeUser.flush();
    const end = Date.now() + 5000;
    while (errors.node.length === before && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.match(errors.node.slice(before).join('; '), /permissions violation for publish to "duet\.admin"/i);
    assert.equal((await client.request(ECHO, 'not kicked')).text, 'not kicked');
    assert.equal(gate.sessions.byUid(8001)?.uid, 8001);

    const admin = await bus('admin');
    const status = await collectReplies({ bus: admin, subject: 'duet.admin', body: { cmd: 'status' }, windowMs: 1000 });
    assert.deepEqual(status.map((a) => a.id).sort(), ['gate-s1', 'node-s1']);
    const holder = await LeaseHolder.open({ bus: admin, uid: 8001 });
    const leaseEnd = Date.now() + 5000;
    while (holder.gates.size === 0 && Date.now() < leaseEnd) await new Promise((r) => setTimeout(r, 20));
    await holder.close();
    assert.deepEqual([...holder.gates.keys()], ['gate-s1']);
    const kicked = await collectReplies({
      bus: admin,
      subject: 'duet.admin',
      body: { cmd: 'kick', uid: 8001 },
      windowMs: 1000,
    });
    assert.equal(kicked[0]?.kicked, true);
    assert.equal((await client.waitClose()).code, 4000);
    assert.deepEqual(errors.admin.slice(3), [], 'the admin user has every right the admin commands use');
    assert.deepEqual(errors.gate, [], 'the gate user has every right its answers use');
  });
});
