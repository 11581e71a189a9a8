import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GateOpsCodec, SessionKind, TakeoverCodec, TakeoverReplyCodec } from '../../src/bus/envelope.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { OpSigner } from '../../src/bus/op-signature.js';
import { Subjects } from '../../src/bus/subjects.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { Gate } from '../../src/gate/gate.js';
import type { ResumeOptions } from '../../src/gate/resume.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { startCutProxy } from '../harness/cut-proxy.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { WsTestClient } from '../harness/ws-client.js';

/**
 * Control operations a bus client could forge with a well-formed payload: a resume takeover with a guessed epoch
 * (the gate handing over now checks the client's resume token, signed with the gates' shared secret), and, with
 * bus.opsSecret set, kicks and binds without the cluster's HMAC.
 */

const RESUME: ResumeOptions = {
  windowMs: 5000,
  bufferMessages: 100,
  bufferBytes: 1 << 16,
  route: -1,
  secret: 'x'.repeat(32),
};

test('forged control - a takeover without the client resume token is refused and counted; the session stays', async (t) => {
  const shared = { bus: new MemoryBus(), locator: new MemoryLocator(), registry: new MemoryRegistry() };
  const a = await startEmbedded({ shared, resume: RESUME, gateId: 'gate-a', nodeId: 'node-1', heartbeatIntervalMs: 0 });
  const proxy = await startCutProxy(a.port);
  t.after(async () => {
    await proxy[Symbol.asyncDispose]();
    await a[Symbol.asyncDispose]();
    await shared.bus.drain();
  });
  const c = await WsTestClient.connect(proxy.url);
  t.after(() => c[Symbol.asyncDispose]());
  assert.equal((await c.request(2, '4002')).text, '4002');
  proxy.cutAll();
  await until(() => a.gate.sessions.byUid(4002)?.isSuspended === true, 'the session suspended');
  const s = a.gate.sessions.byUid(4002);
  assert.ok(s);
  // Everything right but the token: cid, uid and even the current epoch.
  const forged = TakeoverCodec.encode({
    cid: s.cid,
    uid: 4002,
    epoch: a.gate.resume.epoch(s),
    seen: 0,
    gid: 'gate-evil',
    token: '',
  });
  const bytes = await shared.bus.request(new Subjects().gateTakeover('gate-a'), forged, { timeoutMs: 2000 });
  const reply = TakeoverReplyCodec.decode(bytes);
  assert.equal(reply.ok, false);
  assert.match(reply.error, /bad resume token/);
  assert.equal(a.gate.resume.counters.takeoversRefused, 1);
  assert.equal(a.gate.resume.counters.handedOver, 0);
  assert.equal(a.gate.sessions.byUid(4002)?.isSuspended, true, 'still suspended here, not handed over');
});

test('forged control - with bus.opsSecret, unsigned or wrongly signed kicks and binds are dropped and counted', async (t) => {
  const bus = new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  const codec = new PacketCodec();
  const signer = new OpSigner('cluster-secret-'.repeat(3));
  const node = new Node({ id: 'node-1', name: 'game', bus, locator, registry, codec, signer });
  registerDiagnostics(node);
  await node.start();
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: codec.maxFrameBytes });
  const gate = new Gate({ id: 'gate-1', bus, locator, registry, transport, codec, heartbeatIntervalMs: 0, signer });
  await gate.start();
  t.after(async () => {
    await gate.stop({ graceful: false });
    await node.stop();
    await bus.drain();
  });
  const c = await WsTestClient.connect(`ws://127.0.0.1:${gate.address?.port}/`);
  t.after(() => c[Symbol.asyncDispose]());
  // The node's bind is signed: login works as without signing.
  assert.equal((await c.request(2, '5001')).text, '5001');
  const cid = gate.sessions.byUid(5001)?.cid ?? 0;
  const kick = { id: 0, disconnect: { kind: SessionKind.USER, target: 5001, force: true } };
  const subjects = new Subjects();
  bus.publish(subjects.gatesOp(), GateOpsCodec.encode({ nid: '', reply: '', ops: [kick] }));
  bus.publish(subjects.gateOp('gate-1'), new OpSigner('w'.repeat(32)).encode({ nid: '', reply: '', ops: [kick] }));
  bus.publish(
    subjects.gateOp('gate-1'),
    GateOpsCodec.encode({ nid: '', reply: '', ops: [{ id: 0, bind: { cid, uid: 6666 } }] }),
  );
  await until(() => gate.counters.forgedOps === 3, 'three forged envelopes counted');
  assert.equal((await c.request(1, 'alive')).text, 'alive');
  assert.equal(gate.sessions.byUid(5001)?.cid, cid, 'still uid 5001');
  assert.equal(gate.sessions.byUid(6666), undefined);
  assert.equal(await locator.locateGate(6666), undefined);
  // The node's own kick is signed and runs.
  await node.proxy.disconnect({ kind: SessionKind.USER, target: 5001, force: true });
  await c.waitClose(3000);
  await until(() => gate.sessions.byUid(5001) === undefined, 'the kicked session gone');
  assert.equal(gate.counters.forgedOps, 3);
});
