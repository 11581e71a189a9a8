import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bus, BusMessage, BusStatus, Subscription } from '../../src/bus/bus.js';
import { connectNatsBus } from '../../src/bus/nats-bus.js';
import { ConfigError, DuetError, ErrorCode, UnavailableError } from '../../src/errors.js';
import { busContract } from '../contract/bus.contract.js';
import { freePort } from '../harness/free-port.js';
import { type NatsServer, pollUntil, startNats } from '../harness/nats.js';

let server: NatsServer;
before(async () => {
  server = await startNats();
});
after(async () => {
  await server[Symbol.asyncDispose]();
});

busContract('nats', async () => {
  const opened: Bus[] = [];
  const open = async (): Promise<Bus> => {
    const b = await connectNatsBus({ servers: [server.url], name: 'bus-contract' });
    opened.push(b);
    return b;
  };
  const bus = await open();
  return {
    bus,
    other: open,
    dispose: async () => {
      await Promise.all(opened.map((b) => b.drain()));
    },
  };
});

describe('nats bus', () => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const DEADLINE_MS = 10_000;

  function texts(items: BusMessage[]): string[] {
    return items.map((m) => dec.decode(m.data));
  }

  function reader(sub: Subscription): BusMessage[] {
    const items: BusMessage[] = [];
    void (async () => {
      for await (const m of sub) items.push(m);
    })();
    return items;
  }

  it('nats bus - connecting to a port nobody listens on rejects with UnavailableError at once', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await assert.rejects(connectNatsBus({ servers: [url] }), (err: unknown) => {
      assert.ok(err instanceof UnavailableError, `got ${String(err)}`);
      assert.equal(err.code, ErrorCode.UNAVAILABLE);
      assert.ok(err.cause instanceof Error, 'keeps the nats error as cause');
      assert.match(err.message, /127\.0\.0\.1/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000, 'does not retry forever on the first connect');
    await assert.rejects(connectNatsBus({ servers: [] }), (err: unknown) => err instanceof ConfigError);
    const withSecret = `nats://duet:url-secret@127.0.0.1:${await freePort()}`;
    await assert.rejects(connectNatsBus({ servers: [withSecret] }), (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.doesNotMatch(err.message, /url-secret/);
      return true;
    });
  });

  it('nats bus - user and password are passed through; wrong ones are refused without echoing the secret', async () => {
    await using secured = await startNats({ args: ['--user', 'duet', '--pass', 's3cret-pw'] });
    const ok = await connectNatsBus({ servers: [secured.url], user: 'duet', pass: 's3cret-pw' });
    const sub = ok.subscribe('auth.check');
    const got = reader(sub);
    ok.publish('auth.check', enc.encode('in'));
    await pollUntil(() => got.length === 1, DEADLINE_MS, 'a message on the authenticated bus');
    await ok.drain();
    await assert.rejects(connectNatsBus({ servers: [secured.url], user: 'duet', pass: 'wrong-pw' }), (err: unknown) => {
      assert.ok(err instanceof UnavailableError, `got ${String(err)}`);
      assert.doesNotMatch(err.message, /wrong-pw|s3cret-pw/);
      return true;
    });
  });

  it('nats bus - a bad subject is dropped, counted and reported, never thrown', async () => {
    const reported: string[] = [];
    const bus = await connectNatsBus({
      servers: [server.url],
      onError: (err, ctx) => reported.push(`${ctx}: ${String(err)}`),
    });
    try {
      assert.doesNotThrow(() => bus.publish('has space', enc.encode('x')));
      assert.equal(bus.dropped, 1);
      assert.equal(reported.length, 1);
      // A fixed context (a metrics label); the subject is in the message.
      assert.match(reported[0] as string, /^nats publish: .*publish on has space/);
      assert.throws(
        () => bus.subscribe(''),
        (err: unknown) => err instanceof DuetError && err.code === ErrorCode.ILLEGAL_OPERATION,
      );
    } finally {
      await bus.drain();
    }
  });

  it('nats bus - during an outage publishes are held up to the buffer limit, the rest dropped and counted', async () => {
    await using own = await startNats();
    const subject = 'outage.held';
    // Room for exactly two 8-byte messages on this subject.
    const reported: string[] = [];
    const bus = await connectNatsBus({
      servers: [own.url],
      reconnectTimeWaitMs: 50,
      reconnectBufferBytes: 2 * (8 + subject.length),
      onError: (_err, ctx) => reported.push(ctx),
    });
    try {
      const got = reader(bus.subscribe(subject));
      bus.publish(subject, enc.encode('before-1'));
      await pollUntil(() => got.length === 1, DEADLINE_MS, 'the first message');

      await own.kill();
      await pollUntil(() => bus.status === 'reconnecting', DEADLINE_MS, 'the bus to notice the outage');
      for (const t of ['during-1', 'during-2', 'during-3', 'during-4']) bus.publish(subject, enc.encode(t));
      assert.equal(bus.dropped, 2, 'the third and fourth did not fit');
      assert.deepEqual(reported, ['nats reconnect buffer full'], 'reported once per outage');
      await assert.rejects(
        bus.request(subject, enc.encode('x'), { timeoutMs: 1_000 }),
        (err: unknown) => err instanceof UnavailableError,
      );
      await assert.rejects(bus.flush(), (err: unknown) => err instanceof UnavailableError);

      await own.restart();
      await pollUntil(() => bus.status === 'connected', DEADLINE_MS, 'the bus to reconnect');
      bus.publish(subject, enc.encode('after-01'));
      await pollUntil(() => got.length === 4, DEADLINE_MS, 'held and new messages');
      assert.deepEqual(texts(got), ['before-1', 'during-1', 'during-2', 'after-01']);
      assert.equal(bus.reconnects, 1);
    } finally {
      await bus.drain();
    }
  });

  it('nats bus - when reconnect attempts run out, closed resolves with the error and the bus is closed', async () => {
    await using own = await startNats();
    const bus = await connectNatsBus({ servers: [own.url], maxReconnectAttempts: 2, reconnectTimeWaitMs: 20 });
    const statuses: BusStatus[] = [];
    bus.onStatus((s) => statuses.push(s));
    await own.kill();
    const err = await bus.closed;
    assert.ok(err instanceof Error, `closed with ${String(err)}`);
    assert.deepEqual(statuses, ['reconnecting', 'closed']);
    assert.doesNotThrow(() => bus.publish('gone', enc.encode('x')));
    assert.equal(bus.dropped, 1);
    await bus.drain();
  });

  it('nats bus - drain while the server is down ends within drainTimeoutMs and counts held publishes', async () => {
    await using own = await startNats();
    const bus = await connectNatsBus({ servers: [own.url], drainTimeoutMs: 300 });
    const statuses: BusStatus[] = [];
    bus.onStatus((s) => statuses.push(s));
    bus.subscribe('outage.drain');
    await bus.flush();
    await own.kill();
    await pollUntil(() => bus.status === 'reconnecting', DEADLINE_MS, 'the bus to notice the outage');
    bus.publish('outage.drain', enc.encode('lost'));
    const started = Date.now();
    await bus.drain();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 3_000, `drain took ${tookMs} ms`);
    assert.equal(bus.status, 'closed');
    assert.equal(bus.dropped, 1, 'the held publish is counted as lost');
    assert.deepEqual(statuses, ['reconnecting', 'closed']);
    assert.ok(bus.errors >= 1, 'the late drain is reported');
  });
});
