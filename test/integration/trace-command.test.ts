import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connectNatsBus, type NatsBus } from '../../src/bus/nats-bus.js';
import { runTrace } from '../../src/cli/trace-command.js';
import { ErrorCode } from '../../src/errors.js';
import { BusTraceSink } from '../../src/trace/bus-trace-sink.js';
import type { TransitionRecord } from '../../src/trace/trace.js';
import { type NatsServer, startNats } from '../harness/nats.js';

/** `duet trace` in-process against a real nats-server: lines, JSON, filters, the stop, and bad flags. */

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rec = (gate: string, cid: number, uid: number, from: string, to: string, event: string): TransitionRecord => ({
  ts: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
  gate,
  cid,
  uid,
  from,
  to,
  event,
  reason: event === 'session.displaced' ? 'uid bound again by cid 9' : '',
});

describe('trace command - duet trace against a nats-server', { timeout: 60_000 }, () => {
  let nats: NatsServer;
  let publisher: NatsBus;

  before(async () => {
    nats = await startNats();
    publisher = await connectNatsBus({ servers: [nats.url] });
  });
  after(async () => {
    await publisher?.drain();
    await nats?.[Symbol.asyncDispose]();
  });

  /** Runs `duet trace <flags>` until `stop` is aborted; resolves with what it printed once it is following. */
  async function trace(prefix: string, flags: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const stop = new AbortController();
    const code = runTrace(['trace', '--server', nats.url, '--set', `bus.nats.prefix="${prefix}"`, ...flags], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      signal: stop.signal,
    });
    await until('duet trace following', () => err.some((l) => l.includes('following')));
    return {
      out,
      err,
      stop: (): Promise<number> => {
        stop.abort();
        return code;
      },
    };
  }

  it('trace command - prints one line per transition, with the reason, until stopped', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const t = await trace(prefix, []);
    assert.match(
      t.err[0] ?? '',
      new RegExp(`following ${prefix}\\.trace\\.session\\.\\* on nats://127\\.0\\.0\\.1:\\d+`),
    );
    const sink = new BusTraceSink({ bus: publisher, prefix });
    sink.record(rec('gate-x', 4, 0, 'handshake', 'active.unbound', 'session.opened'));
    sink.record(rec('gate-x', 4, 0, 'active.bound', 'closing', 'session.displaced'));
    await until('two lines', () => t.out.length >= 2);
    assert.deepEqual(t.out, [
      '2026-01-02T03:04:05.678Z gate-x cid=4 uid=0 handshake → active.unbound session.opened',
      '2026-01-02T03:04:05.678Z gate-x cid=4 uid=0 active.bound → closing session.displaced (uid bound again by cid 9)',
    ]);
    assert.equal(await t.stop(), 0);
  });

  it('trace command - --json, --uid and --gate filter what is printed', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const byUid = await trace(prefix, ['--json', '--uid', '77']);
    const byGate = await trace(prefix, ['--json', '--gate', 'gate-y']);
    const sink = new BusTraceSink({ bus: publisher, prefix });
    sink.record(rec('gate-x', 1, 0, 'handshake', 'active.unbound', 'session.opened'));
    sink.record(rec('gate-y', 2, 0, 'handshake', 'active.unbound', 'session.opened'));
    sink.record(rec('gate-y', 2, 88, 'active.unbound', 'active.bound', 'node.bound'));
    sink.record(rec('gate-x', 1, 77, 'active.unbound', 'active.bound', 'node.bound'));
    sink.record(rec('gate-x', 1, 0, 'active.bound', 'closed', 'socket.closed'));
    await until('uid 77 session closed', () => byUid.out.length >= 3);
    await until('gate-y records', () => byGate.out.length >= 2);
    const parsed = byUid.out.map((l) => JSON.parse(l) as TransitionRecord & { time: string });
    assert.deepEqual(
      parsed.map((r) => [r.gate, r.cid, r.to]),
      [
        ['gate-x', 1, 'active.unbound'],
        ['gate-x', 1, 'active.bound'],
        ['gate-x', 1, 'closed'],
      ],
    );
    assert.equal(parsed[0]?.time, '2026-01-02T03:04:05.678Z');
    assert.deepEqual(
      byGate.out.map((l) => (JSON.parse(l) as TransitionRecord).gate),
      ['gate-y', 'gate-y'],
    );
    assert.equal(await byUid.stop(), 0);
    assert.equal(await byGate.stop(), 0);
  });

  it('trace command - bad flags and a memory bus are configuration errors', async () => {
    await assert.rejects(runTrace(['trace', '--uid', 'abc']), {
      code: ErrorCode.CONFIG_INVALID,
      message: '--uid must be a non-negative integer, got abc',
    });
    await assert.rejects(runTrace(['trace', '--set', 'bus.adapter="memory"']), {
      code: ErrorCode.CONFIG_INVALID,
      message: /bus\.adapter must be "nats" \(or pass --server URL\), got "memory"/,
    });
  });
});
