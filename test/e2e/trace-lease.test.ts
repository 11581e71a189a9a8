/**
 * On-demand tracing (issue 19): a gate with `[trace] enabled = false` publishes nothing until `duet trace` holds a
 * lease; then the matching sessions' transitions; after the tracer is killed with SIGKILL it stops within two lease
 * periods. `duet trace` says how many gates answered and warns when none did.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Subscription } from '../../src/bus/bus.js';
import { TransitionCodec } from '../../src/bus/envelope.js';
import { connectNatsBus, type NatsBus } from '../../src/bus/nats-bus.js';
import { Subjects } from '../../src/bus/subjects.js';
import { clusterArgs } from '../harness/cluster-args.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { untilGateRoutes } from '../harness/gate-ready.js';
import { type NatsServer, pollUntil, startNats } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect } from '../harness/ws-client.js';

const BIN = fileURLToPath(new URL('../../bin/duet.js', import.meta.url));
const LEASE_MS = 1000;
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function tracer(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'trace', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      live.delete(child);
      r(code);
    }),
  );
  return { child, stderr: () => stderr, exited };
}

describe('trace lease - on-demand tracing of a gate running with tracing off', { timeout: 90_000 }, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let gate: DuetProcess;
  let node: DuetProcess;
  let bus: NatsBus;
  let sub: Subscription;
  const seen: { uid: number; to: string; atMs: number }[] = [];
  const prefix = `l${randomUUID().slice(0, 8)}`;
  const busArgs = (): string[] => ['--set', `bus.nats.servers=["${nats.url}"]`, '--set', `bus.nats.prefix="${prefix}"`];

  before(async () => {
    [nats, redis] = await Promise.all([startNats({ jetstream: true }), startRedis()]);
    const args = clusterArgs({ natsUrl: nats.url, redisAddr: redis.addr, prefix });
    node = await startDuet(['node', ...args]);
    gate = await startDuet([
      'gate',
      ...args,
      '--set',
      'cluster.gate.id="gate-l"',
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'trace.enabled=false',
    ]);
    bus = await connectNatsBus({ servers: [nats.url] });
    sub = bus.subscribe(new Subjects(prefix).traceAll());
    void (async () => {
      for await (const m of sub) {
        const t = TransitionCodec.decode(m.data);
        seen.push({ uid: t.uid, to: t.to, atMs: Date.now() });
      }
    })();
    await bus.flush();
    await untilGateRoutes(gate.url as string);
  });

  after(async () => {
    await sub?.drain();
    await bus?.drain();
    await Promise.all([gate, node].map((p) => p?.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  /** One client logs in as `uid`, logs out, and the gate closes it: a bound session's whole life. */
  async function session(uid: number): Promise<void> {
    const c = await connect(gate.url as string);
    assert.equal((await c.request(2, String(uid))).text, String(uid));
    await c[Symbol.asyncDispose]();
  }

  it('trace lease - nothing is published without a tracer, the uid session with one, nothing after SIGKILL', async () => {
    await session(9300);
    await bus.flush();
    // The ping loop's sessions and this one ran with no lease: nothing reached the trace subjects.
    assert.equal(seen.length, 0, JSON.stringify(seen));

    const t = tracer(['--uid', '9300', '--lease', String(LEASE_MS), ...busArgs()]);
    await pollUntil(() => /1 gate answered \(gate-l\)/.test(t.stderr()), 10_000, 'duet trace counted the gate');
    await session(9301);
    await session(9300);
    await pollUntil(() => seen.some((r) => r.to === 'closed'), 10_000, 'the traced session closed');
    assert.ok(seen.length > 0 && seen.every((r) => r.uid === 9300 || r.uid === 0), JSON.stringify(seen));
    assert.ok(!seen.some((r) => r.uid === 9301), 'another user was published');

    t.child.kill('SIGKILL');
    await t.exited;
    const killedAt = Date.now();
    // Two lease periods after the kill the gate has let the lease lapse: a new session publishes nothing.
    await new Promise((r) => setTimeout(r, 2 * LEASE_MS));
    const before = seen.length;
    await session(9300);
    await bus.flush();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(seen.length, before, 'the gate still published after the lease lapsed');
    for (const r of seen) assert.ok(r.atMs < killedAt + 2 * LEASE_MS, 'a record published later than two leases');
  });

  it('trace lease - duet trace warns when no gate answered', async () => {
    const t = tracer(['--gate', 'no-such-gate', ...busArgs()]);
    await pollUntil(() => /warning: no gate answered/.test(t.stderr()), 10_000, 'the warning');
    t.child.kill('SIGINT');
    assert.equal(await t.exited, 0, t.stderr());
  });
});
