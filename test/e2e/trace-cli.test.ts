/**
 * Trace and replay over a real deployment (issue 7): a 3-server NATS cluster, a redis-server, a `duet node` and two
 * `duet gate` processes with tracing on, each gate on a different server. `duet trace` talks to the FIRST server
 * and shows what happens on the gate attached to another; the fixtures replay against the gates with no diff;
 * `duet replay` and `duet capture` work as commands.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PacketCodec } from '../../src/packet/codec.js';
import { CaptureWriter, loadCapture } from '../../src/replay/capture-file.js';
import type { CaptureEntry } from '../../src/replay/capture-records.js';
import type { TransitionRecord } from '../../src/trace/trace.js';
import { type DuetProcess, startDuet } from '../harness/duet-process.js';
import { type NatsCluster, startNatsCluster } from '../harness/nats.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { connect, type WsTestClient } from '../harness/ws-client.js';
import { formatReplayReport, replay } from '../helpers/replay.js';

const BIN = fileURLToPath(new URL('../../bin/duet.js', import.meta.url));
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../fixtures/captures/${name}.capture`, import.meta.url));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Polls `fn` until it returns a value; a thrown error ends the wait at once (a dead process will not recover). */
async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Observer {
  /** stdout lines with the time each arrived. */
  readonly lines: { text: string; atMs: number }[];
  readonly stderr: () => string;
  waitFor(what: string, test: () => boolean, timeoutMs?: number): Promise<void>;
  /** SIGINT, resolves with the exit code. */
  stop(): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/** Spawns `duet <args>` for the observer commands (trace, replay, capture) and collects its output. */
function observe(args: string[]): Observer {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const lines: { text: string; atMs: number }[] = [];
  let partial = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    const now = Date.now();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ text, atMs: now });
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return {
    lines,
    stderr: () => stderr,
    waitFor: async (what, test, timeoutMs = 15_000) => {
      await until(
        what,
        () => {
          if (child.exitCode !== null) throw new Error(`duet ${args[0]} exited ${child.exitCode}: ${stderr}`);
          return test() ? true : undefined;
        },
        timeoutMs,
      );
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    exited,
  };
}

describe('trace cli - duet trace, replay and capture over a 3-server NATS cluster', { timeout: 180_000 }, () => {
  let nats: NatsCluster;
  let redis: RedisServer;
  let gateA: DuetProcess;
  let gateB: DuetProcess;
  let node: DuetProcess;
  const procs: DuetProcess[] = [];
  const clients: WsTestClient[] = [];
  const prefix = `t${randomUUID().slice(0, 8)}`;
  let dir: string;

  const bus = (url: string): string[] => [
    '--set',
    `bus.nats.servers=["${url}"]`,
    '--set',
    `bus.nats.prefix="${prefix}"`,
    '--set',
    'log.level="warn"',
  ];
  const common = (url: string): string[] => [
    ...bus(url),
    '--set',
    'bus.adapter="nats"',
    '--set',
    'locate.adapter="redis"',
    '--set',
    `locate.redis.addrs=["${redis.addr}"]`,
    '--set',
    `locate.redis.prefix="${prefix}:locate"`,
    '--set',
    'registry.adapter="nats"',
    '--set',
    `registry.nats.bucket="${prefix}-registry"`,
    '--set',
    'registry.nats.interval="500ms"',
  ];
  const startGate = (i: number, id: string): Promise<DuetProcess> =>
    startDuet([
      'gate',
      ...common(nats.urls[i] as string),
      '--set',
      `cluster.gate.id="${id}"`,
      '--set',
      'network.ws.server.addr="127.0.0.1:0"',
      '--set',
      'trace.enabled=true',
    ]);

  async function client(gate: DuetProcess): Promise<WsTestClient> {
    const c = await connect(gate.url as string);
    clients.push(c);
    return c;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duet-trace-e2e-'));
    [nats, redis] = await Promise.all([startNatsCluster(3, { jetstream: true }), startRedis()]);
    // node-1: the fixtures' whoami answers name the node that made them.
    node = await startDuet(['node', ...common(nats.urls[2] as string), '--set', 'cluster.node.id="node-1"']);
    procs.push(node);
    [gateA, gateB] = await Promise.all([startGate(0, 'gate-a'), startGate(1, 'gate-b')]);
    procs.push(gateA, gateB);
    for (const g of [gateA, gateB]) {
      const c = await client(g);
      await until(
        `gate ${g.gateId} routes to the node`,
        async () => {
          const r = await c.request(1, 'ping', 1000).catch(() => undefined);
          return r?.text === 'ping' ? true : undefined;
        },
        20_000,
      );
    }
  });

  after(async () => {
    for (const c of clients) await c[Symbol.asyncDispose]().catch(() => {});
    await Promise.all(procs.map((p) => p.stop().catch(() => null)));
    await redis?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const records = (o: Observer): (TransitionRecord & { atMs: number })[] =>
    o.lines
      .filter((l) => l.text.startsWith('{'))
      .map((l) => ({ ...(JSON.parse(l.text) as TransitionRecord), atMs: l.atMs }));

  it('trace cli - duet trace on server 1 shows connect → bind → kick → closed on gate B (server 2) within 1 s', async () => {
    const trace = observe(['trace', '--json', ...bus(nats.urls[0] as string)]);
    try {
      await trace.waitFor('duet trace subscribed', () => /following/.test(trace.stderr()));
      const a = await client(gateB);
      assert.equal((await a.request(2, '9001')).text, '9001');
      const b = await client(gateA);
      assert.equal((await b.request(2, '9001')).text, '9001');
      assert.equal((await a.waitClose()).code, 4003);
      const session = (): (TransitionRecord & { atMs: number })[] => {
        const bound = records(trace).find((r) => r.gate === 'gate-b' && r.uid === 9001 && r.to === 'active.bound');
        return bound ? records(trace).filter((r) => r.gate === 'gate-b' && r.cid === bound.cid) : [];
      };
      await trace.waitFor(
        'the kicked session closed in the trace',
        () => session().some((r) => r.to === 'closed'),
        5000,
      );
      assert.deepEqual(
        session().map((r) => `${r.from} → ${r.to} ${r.event}`),
        [
          'handshake → active.unbound session.opened',
          'active.unbound → active.bound node.bound',
          'active.bound → closing session.displaced',
          'closing → closed socket.closed',
        ],
      );
      for (const r of session())
        assert.ok(r.atMs - r.ts < 1000, `${r.to} printed ${r.atMs - r.ts} ms after it happened`);
      // The kick came from the other gate: the same user's new session is on gate A.
      assert.ok(records(trace).some((r) => r.gate === 'gate-a' && r.uid === 9001 && r.to === 'active.bound'));
    } finally {
      assert.equal(await trace.stop(), 0, trace.stderr());
    }
  });

  it('trace cli - --uid follows one user across both gates and nothing else', async () => {
    const trace = observe(['trace', '--json', '--uid', '9100', ...bus(nats.urls[0] as string)]);
    try {
      await trace.waitFor('duet trace subscribed', () => /following/.test(trace.stderr()));
      const other = await client(gateB);
      await other.request(2, '9101');
      const a = await client(gateA);
      await a.request(2, '9100');
      const b = await client(gateB);
      await b.request(2, '9100');
      await a.waitClose();
      await trace.waitFor(
        'both 9100 sessions traced',
        () => {
          const rs = records(trace);
          return (
            rs.some((r) => r.gate === 'gate-a' && r.to === 'closed') &&
            rs.some((r) => r.gate === 'gate-b' && r.to === 'active.bound')
          );
        },
        5000,
      );
      const rs = records(trace);
      assert.deepEqual([...new Set(rs.map((r) => r.gate))].sort(), ['gate-a', 'gate-b']);
      assert.ok(
        rs.every((r) => r.uid === 9100 || r.uid === 0),
        'no other user',
      );
      assert.equal(rs.filter((r) => r.event === 'session.opened').length, 2, 'connect records of both sessions');
    } finally {
      assert.equal(await trace.stop(), 0, trace.stderr());
    }
  });

  it('replay - every fixture replays with no diff through either gate of the NATS cluster', async () => {
    for (const name of ['login-whoami', 'echo-burst', 'kick-same-uid']) {
      for (const g of [gateA, gateB]) {
        const report = await replay(fixture(name), { url: g.url as string });
        assert.ok(report.ok, `${name} via ${g.gateId}:\n${formatReplayReport(report)}`);
      }
    }
  });

  it('replay cli - exit 0 on a match, 1 with a readable diff on a mismatch, 2 on a corrupt file', async () => {
    const ok = observe(['replay', fixture('echo-burst'), '--url', gateA.url as string, '--fast']);
    assert.equal(await ok.exited, 0, ok.stderr());
    assert.match(
      ok.lines.map((l) => l.text).join('\n'),
      /^replay ok: 1 connections, 50 packets sent, 50 answers match$/m,
    );

    // A capture whose recorded answer is not what the echo route says.
    const wrong = join(dir, 'wrong.capture');
    const w = await CaptureWriter.open({ path: wrong });
    const codec = new PacketCodec();
    const e = (direction: 'in' | 'out', body: string): Omit<CaptureEntry, 'monoNs' | 'tsMs'> => ({
      direction,
      gid: 'g',
      nid: '',
      cid: 1,
      uid: 0,
      kind: 'packet',
      data: codec.encode({ route: 1, seq: 1, body: new TextEncoder().encode(body) }),
      subject: '',
    });
    w.write(e('in', 'sent'));
    w.write(e('out', 'recorded'));
    await w.close();
    const bad = observe(['replay', wrong, '--url', gateB.url as string, '--fast']);
    assert.equal(await bad.exited, 1, bad.stderr());
    const text = bad.lines.map((l) => l.text).join('\n');
    assert.match(text, /^replay FAILED: 1 mismatches/m);
    assert.match(text, /route 1 seq 1: body differs from byte 0/);
    assert.match(text, /expected: response route 1 seq 1 body 8 bytes: 72 65 63 6f 72 64 65 64 {2}"recorded"/);
    assert.match(text, /actual: {3}response route 1 seq 1 body 4 bytes: 73 65 6e 74 {2}"sent"/);

    const cut = join(dir, 'cut.capture');
    await copyFile(fixture('login-whoami'), cut);
    await truncate(cut, (await stat(cut)).size - 1);
    const corrupt = observe(['replay', cut, '--url', gateA.url as string]);
    assert.equal(await corrupt.exited, 2);
    assert.match(corrupt.stderr(), /DUET_ERR_CAPTURE_CORRUPT|truncated record: .* at byte offset \d+/);
  });

  it('capture cli - duet capture records the gate → node and node → gate envelopes of a request', async () => {
    const out = join(dir, 'bus.capture');
    const cap = observe(['capture', '--out', out, ...bus(nats.urls[1] as string)]);
    await cap.waitFor('duet capture subscribed', () => /recording/.test(cap.stderr()));
    const c = await client(gateA);
    assert.equal((await c.request(1, 'captured on the bus')).text, 'captured on the bus');
    const seen = async (): Promise<CaptureEntry[] | undefined> => {
      const entries = await loadCapture(out).then(
        (x) => x.entries,
        () => [],
      );
      const deliver = entries.find((x) => x.direction === 'in' && x.subject === `${prefix}.node.node-1.deliver`);
      const op = entries.find((x) => x.direction === 'out' && x.subject === `${prefix}.gate.gate-a.op`);
      return deliver && op ? [deliver, op] : undefined;
    };
    const [deliver, op] = await until('both envelopes in the capture file', seen, 10_000);
    assert.equal(await cap.stop(), 0, cap.stderr());
    assert.equal(deliver?.gid, 'gate-a');
    assert.equal(deliver?.nid, 'node-1');
    assert.ok(Buffer.from(deliver?.data ?? []).includes('captured on the bus'));
    assert.equal(op?.nid, 'node-1');
    assert.equal(op?.kind, 'envelope');
    // The bus capture replays too, through the client packets its envelopes carried.
    const report = await replay(out, { url: gateB.url as string });
    assert.ok(report.ok && report.compared === 1, formatReplayReport(report));
  });
});
