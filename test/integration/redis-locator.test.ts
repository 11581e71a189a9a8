import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { ErrorCode } from '../../src/errors.js';
import type { LocateEvent } from '../../src/locate/locator.js';
import { RedisLocator, type RedisLocatorOptions } from '../../src/locate/redis-locator.js';
import { locatorContract } from '../contract/locator.contract.js';
import { liveRedisServers, makeTestCerts, type RedisServer, startRedis } from '../harness/redis.js';

/** RedisLocator against a real redis-server of this file's own: the contract suite, then due's exact layout. */

let redis: RedisServer;
let prefixSeq = 0;

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis?.[Symbol.asyncDispose]();
  assert.equal(liveRedisServers(), 0, 'every redis-server this file started is gone');
});

/** A unique key prefix per locator, so tests never see each other's keys or events. */
function uniquePrefix(): string {
  return `duet-test:${process.pid}:${++prefixSeq}`;
}

async function newLocator(t: TestContext | undefined, opts: RedisLocatorOptions = {}): Promise<RedisLocator> {
  const loc = new RedisLocator({ addrs: [redis.addr], prefix: uniquePrefix(), ...opts });
  t?.after(() => loc[Symbol.asyncDispose]());
  await loc.ready();
  return loc;
}

function rawClient(t: TestContext): Redis {
  const c = new Redis({ host: redis.host, port: redis.port, lazyConnect: true, maxRetriesPerRequest: 0 });
  c.on('error', () => {});
  t.after(() => c.disconnect());
  return c;
}

/** `calls` of one command since the last CONFIG RESETSTAT (INFO commandstats), 0 when never called. */
async function commandCalls(c: Redis, command: string): Promise<number> {
  const info = await c.info('commandstats');
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+),`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Subscribes a raw client and collects every message as its exact bytes (utf-8). */
async function captureChannel(
  t: TestContext,
  channels: string[],
): Promise<{ messages: string[]; next: () => Promise<string> }> {
  const sub = rawClient(t);
  await sub.connect();
  const messages: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  sub.on('messageBuffer', (_ch: Buffer, msg: Buffer) => {
    const text = msg.toString('utf8');
    messages.push(text);
    waiters.shift()?.(text);
  });
  await sub.subscribe(...channels);
  let read = 0;
  const next = (): Promise<string> => {
    const i = read++;
    const have = messages[i];
    if (have !== undefined) return Promise.resolve(have);
    return within(new Promise<string>((r) => waiters.push(r)), 5_000, `published message ${i + 1}`);
  };
  return { messages, next };
}

locatorContract(
  'redis',
  () => newLocator(undefined),
  {},
  async () => {
    // A server of its own: restarting the shared one would disturb the other tests of this file.
    const server = await startRedis();
    const locator = new RedisLocator({ addrs: [server.addr], prefix: uniquePrefix() });
    await locator.ready();
    return {
      locator,
      restart: () => server.restart(),
      dispose: async () => {
        await locator[Symbol.asyncDispose]();
        await server[Symbol.asyncDispose]();
      },
    };
  },
);

describe('redis locator - due layout', () => {
  it('redis locator - keys, value types and no TTL exactly as due writes them (default prefix)', async (t) => {
    const loc = await newLocator(t, { prefix: undefined });
    assert.equal(loc.prefix, 'due:locate');
    const raw = rawClient(t);
    await raw.connect();
    await loc.bindGate(1001, 'gate-1');
    await loc.bindNode(1001, 'game', 'node-1');
    await loc.bindNode(1001, 'chat', 'node-2');
    await loc.bindGate(-5, 'gate-neg');
    assert.equal(await raw.type('due:locate:locate:user:1001:gate'), 'string');
    assert.equal(await raw.get('due:locate:locate:user:1001:gate'), 'gate-1');
    assert.equal(await raw.ttl('due:locate:locate:user:1001:gate'), -1, 'due sets no TTL');
    assert.equal(await raw.type('due:locate:locate:user:1001:node'), 'hash');
    assert.deepEqual(await raw.hgetall('due:locate:locate:user:1001:node'), { game: 'node-1', chat: 'node-2' });
    assert.equal(await raw.get('due:locate:locate:user:-5:gate'), 'gate-neg', 'uid as a signed decimal');

    await loc.unbindNode(1001, 'game', 'node-1');
    assert.deepEqual(await raw.hgetall('due:locate:locate:user:1001:node'), { chat: 'node-2' });
    await loc.unbindGate(1001, 'gate-1');
    assert.equal(await raw.exists('due:locate:locate:user:1001:gate'), 0);
    await loc.unbindGate(-5, 'gate-neg');
    await loc.unbindNode(1001, 'chat', 'node-2');
    assert.equal(await raw.exists('due:locate:locate:user:1001:node'), 0, 'an empty hash disappears');
  });

  it('redis locator - bindGate keeps a TTL set on the key (SET KEEPTTL)', async (t) => {
    const loc = await newLocator(t, { prefix: 'due' });
    const raw = rawClient(t);
    await raw.connect();
    await loc.bindGate(77, 'g1');
    assert.equal(await raw.get('due:locate:user:77:gate'), 'g1', "prefix 'due' gives due's pre-2.3 keys");
    await raw.expire('due:locate:user:77:gate', 600);
    await loc.bindGate(77, 'g2');
    assert.equal(await raw.get('due:locate:user:77:gate'), 'g2');
    const ttl = await raw.ttl('due:locate:user:77:gate');
    assert.ok(ttl > 590 && ttl <= 600, `TTL kept across the rebind, got ${ttl}`);
  });

  it('redis locator - publishes the exact JSON bytes due publishes, only for changes that happened', async (t) => {
    const loc = await newLocator(t, { prefix: undefined });
    const cap = await captureChannel(t, [
      'due:locate:locate:cluster:gate:event',
      'due:locate:locate:cluster:node:event',
    ]);
    await loc.bindGate(1001, 'gate-1');
    await loc.bindNode(1001, 'game', 'node-1');
    await loc.unbindNode(1001, 'game', 'node-stale');
    await loc.unbindGate(1001, 'gate-stale');
    await loc.unbindNode(1001, 'game', 'node-1');
    await loc.unbindGate(1001, 'gate-1');
    await loc.bindGate(-(2 ** 53 - 1), 'g"quote');
    const expected = [
      '{"uid":1001,"type":1,"insID":"gate-1","insKind":"gate","insName":""}',
      '{"uid":1001,"type":2,"insID":"node-1","insKind":"node","insName":"game"}',
      '{"uid":1001,"type":4,"insID":"node-1","insKind":"node","insName":"game"}',
      '{"uid":1001,"type":3,"insID":"gate-1","insKind":"gate","insName":""}',
      '{"uid":-9007199254740991,"type":1,"insID":"g\\"quote","insKind":"gate","insName":""}',
    ];
    const got: string[] = [];
    for (let i = 0; i < expected.length; i++) got.push(await cap.next());
    assert.deepEqual(got, expected);
  });

  it('redis locator - events written by another writer (due) reach watchers and the cache; garbage is counted', async (t) => {
    const loc = await newLocator(t);
    const raw = rawClient(t);
    await raw.connect();
    const ac = new AbortController();
    t.after(() => ac.abort());
    const it = loc.watch(['gate', 'node'], ac.signal)[Symbol.asyncIterator]();
    const gateChannel = `${loc.prefix}:locate:cluster:gate:event`;
    const nodeChannel = `${loc.prefix}:locate:cluster:node:event`;
    await raw.publish(gateChannel, 'not json');
    await raw.publish(gateChannel, '{"uid":1.5,"type":1,"insID":"x","insKind":"gate","insName":""}');
    await raw.publish(gateChannel, '{"uid":1152921504606846976,"type":1,"insID":"x","insKind":"gate","insName":""}');
    await raw.publish(nodeChannel, '{"uid":5,"type":1,"insID":"x","insKind":"gate","insName":""}');
    await raw.publish(nodeChannel, '{"uid":5,"type":2,"insID":"node-x","insKind":"node","insName":"game"}');
    const first = await within(it.next(), 5_000, 'the well-formed event');
    assert.deepEqual(
      { ...(first.value as LocateEvent) },
      {
        uid: 5,
        type: 2,
        insID: 'node-x',
        insKind: 'node',
        insName: 'game',
      },
    );
    assert.equal(loc.stats().malformedEvents, 4, 'bad JSON, fractional uid, uid beyond 2^53, wrong channel kind');
    // The event alone fed the cache: the key does not even exist in Redis.
    const reads = loc.stats().reads;
    assert.equal(await loc.locateNode(5, 'game'), 'node-x');
    assert.equal(loc.stats().reads, reads, 'answered from the cache');
    // A key written directly (by due, say) is read on a cache miss.
    await raw.set(`${loc.prefix}:locate:user:6:gate`, 'due-gate');
    assert.equal(await loc.locateGate(6), 'due-gate');
  });

  it("redis locator - a second instance's cache follows the first's events without reading Redis", async (t) => {
    const a = await newLocator(t);
    const b = await newLocator(t, { prefix: a.prefix });
    const raw = rawClient(t);
    await raw.connect();
    const ac = new AbortController();
    t.after(() => ac.abort());
    const bEvents = b.watch(['gate', 'node'], ac.signal)[Symbol.asyncIterator]();

    assert.equal(await b.locateGate(1), undefined);
    await a.bindGate(1, 'gate-a');
    await a.bindNode(1, 'game', 'node-a');
    await within(bEvents.next(), 5_000, 'bind gate event on B');
    await within(bEvents.next(), 5_000, 'bind node event on B');
    await raw.config('RESETSTAT');
    const readsBefore = b.stats().reads;
    assert.equal(await b.locateGate(1), 'gate-a');
    assert.equal(await b.locateNode(1, 'game'), 'node-a');
    assert.equal(b.stats().reads, readsBefore, 'no read issued by B');
    assert.equal(await commandCalls(raw, 'get'), 0, 'Redis saw no GET');
    assert.equal(await commandCalls(raw, 'hget'), 0, 'Redis saw no HGET');

    // Proof it is the cache answering: remove the keys behind B's back (no event) and B still answers.
    await raw.del(`${a.prefix}:locate:user:1:gate`, `${a.prefix}:locate:user:1:node`);
    assert.equal(await b.locateGate(1), 'gate-a');
    // And a change through A replaces B's entry.
    await a.bindGate(1, 'gate-a2');
    await within(bEvents.next(), 5_000, 'rebind event on B');
    assert.equal(await b.locateGate(1), 'gate-a2');
    await a.unbindGate(1, 'gate-a2');
    await within(bEvents.next(), 5_000, 'unbind event on B');
    assert.equal(await b.locateGate(1), undefined);
  });

  it('redis locator - racing binds from two instances leave every cache equal to Redis', async (t) => {
    const a = await newLocator(t);
    const b = await newLocator(t, { prefix: a.prefix });
    const watcher = await newLocator(t, { prefix: a.prefix });
    const raw = rawClient(t);
    await raw.connect();
    const ac = new AbortController();
    t.after(() => ac.abort());
    const seen = watcher.watch(['gate'], ac.signal)[Symbol.asyncIterator]();
    for (let round = 0; round < 100; round++) {
      await Promise.all([a.bindGate(1, `a${round}`), b.bindGate(1, `b${round}`), a.bindNode(1, 'game', `a${round}`)]);
    }
    // Events arrive in publish order, so once the watcher sees this sentinel it has applied every earlier one.
    await a.bindGate(2, 'sentinel');
    for (;;) {
      const r = await within(seen.next(), 5_000, 'the sentinel event');
      if (r.value?.uid === 2) break;
    }
    const truth = await raw.get(`${a.prefix}:locate:user:1:gate`);
    const reads = watcher.stats().reads;
    assert.equal(await watcher.locateGate(1), truth, 'the event-fed cache ends on the value Redis holds');
    assert.equal(await watcher.locateNode(1, 'game'), 'a99');
    assert.equal(watcher.stats().reads, reads, 'answered from the cache');
    assert.equal(await a.locateGate(1), truth);
    assert.equal(await b.locateGate(1), truth);
  });

  it('redis locator - concurrent lookup misses share one Redis read (single-flight)', async (t) => {
    const loc = await newLocator(t);
    const raw = rawClient(t);
    await raw.connect();
    await raw.set(`${loc.prefix}:locate:user:777:gate`, 'gate-x');
    await raw.hset(`${loc.prefix}:locate:user:777:node`, 'game', 'node-x');
    await raw.config('RESETSTAT');
    const gates = await Promise.all(Array.from({ length: 50 }, () => loc.locateGate(777)));
    const nodes = await Promise.all(Array.from({ length: 50 }, () => loc.locateNode(777, 'game')));
    assert.ok(gates.every((g) => g === 'gate-x'));
    assert.ok(nodes.every((n) => n === 'node-x'));
    assert.equal(await commandCalls(raw, 'get'), 1, '50 concurrent gate misses → 1 GET');
    assert.equal(await commandCalls(raw, 'hget'), 1, '50 concurrent node misses → 1 HGET');
    // Then cached: more lookups read nothing.
    await loc.locateGate(777);
    assert.equal(await commandCalls(raw, 'get'), 1);
  });

  it('redis locator - a bind is visible to the next lookup on the same instance at once', async (t) => {
    const loc = await newLocator(t);
    assert.equal(await loc.locateGate(12), undefined);
    for (let i = 0; i < 20; i++) {
      await loc.bindGate(12, `g${i}`);
      assert.equal(await loc.locateGate(12), `g${i}`);
      await loc.bindNode(12, 'game', `n${i}`);
      assert.equal(await loc.locateNode(12, 'game'), `n${i}`);
    }
  });

  it('redis locator - writes still work after Redis forgot the scripts (EVALSHA falls back to EVAL)', async (t) => {
    const loc = await newLocator(t);
    const raw = rawClient(t);
    await raw.connect();
    await loc.bindGate(3, 'g1');
    await raw.script('FLUSH');
    await loc.unbindGate(3, 'g1');
    assert.equal(await raw.exists(`${loc.prefix}:locate:user:3:gate`), 0);
    await raw.script('FLUSH');
    await loc.bindNode(3, 'game', 'n1');
    assert.equal(await raw.hget(`${loc.prefix}:locate:user:3:node`, 'game'), 'n1');
  });

  it('redis locator - an aborted signal rejects the call with its reason', async (t) => {
    const loc = await newLocator(t);
    const ac = new AbortController();
    ac.abort(new Error('caller gave up'));
    await assert.rejects(loc.bindGate(1, 'g', ac.signal), /caller gave up/);
    await assert.rejects(loc.locateGate(1, ac.signal), /caller gave up/);
    await loc.bindGate(2, 'g2');
    assert.equal(await loc.locateGate(2), 'g2');
    await assert.rejects(loc.locateGate(2, ac.signal), /caller gave up/, 'even when the answer is cached');
  });

  it('redis locator - dispose leaves no socket or timer behind', async () => {
    const count = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    const baseline = count();
    for (let i = 0; i < 3; i++) {
      const loc = await newLocator(undefined);
      await loc.bindGate(1, 'g');
      await loc.locateGate(1);
      const ac = new AbortController();
      loc.watch(['gate'], ac.signal);
      await loc[Symbol.asyncDispose]();
      assert.equal(loc.status, 'closed');
    }
    const deadline = Date.now() + 3_000;
    while (count() > baseline) {
      assert.ok(Date.now() < deadline, `resources ${process.getActiveResourcesInfo().join(',')}, baseline ${baseline}`);
      await new Promise((r) => setImmediate(r));
    }
  });

  it('redis locator - bad addrs and partial TLS settings are config errors naming the key', () => {
    const isConfig = (key: string) => (err: unknown) =>
      err instanceof Error &&
      (err as { code?: unknown }).code === ErrorCode.CONFIG_INVALID &&
      err.message.includes(key);
    assert.throws(() => new RedisLocator({ addrs: ['no-port'] }), isConfig('locate.redis.addrs'));
    assert.throws(() => new RedisLocator({ addrs: ['host:99999'] }), isConfig('locate.redis.addrs'));
    assert.throws(() => new RedisLocator({ addrs: [redis.addr], certFile: '/x.pem' }), isConfig('keyFile'));
    assert.throws(
      () => new RedisLocator({ addrs: [redis.addr], certFile: '/no/c', keyFile: '/no/k', caFile: '/no/ca' }),
      isConfig('locate.redis.certFile'),
    );
  });
});

describe('redis locator - TLS', () => {
  it('redis locator - caFile alone: TLS that verifies the server, without a client certificate', async (t) => {
    const certs = await makeTestCerts();
    t.after(() => certs[Symbol.asyncDispose]());
    const server = await startRedis({ tls: certs, args: ['--tls-auth-clients', 'no'] });
    t.after(() => server[Symbol.asyncDispose]());
    const loc = new RedisLocator({ addrs: [server.addr], prefix: uniquePrefix(), caFile: certs.caFile });
    t.after(() => loc[Symbol.asyncDispose]());
    await loc.ready();
    await loc.bindGate(2, 'ca-only-gate');
    assert.equal(await loc.locateGate(2), 'ca-only-gate');
    // The CA is really checked: another CA's file makes the same server unreachable.
    const other = await makeTestCerts();
    t.after(() => other[Symbol.asyncDispose]());
    const wrong = new RedisLocator({
      addrs: [server.addr],
      prefix: uniquePrefix(),
      caFile: other.caFile,
      startupWaitMs: 500,
    });
    t.after(() => wrong[Symbol.asyncDispose]());
    await assert.rejects(
      wrong.bindGate(2, 'g'),
      (err: unknown) => (err as { code?: unknown }).code === ErrorCode.UNAVAILABLE,
    );
  });

  it('redis locator - certFile, keyFile and caFile connect over TLS; without them the TLS port is unavailable', async (t) => {
    const certs = await makeTestCerts();
    t.after(() => certs[Symbol.asyncDispose]());
    const server = await startRedis({ tls: certs });
    t.after(() => server[Symbol.asyncDispose]());
    const loc = new RedisLocator({ addrs: [server.addr], prefix: uniquePrefix(), ...certs });
    t.after(() => loc[Symbol.asyncDispose]());
    await loc.ready();
    await loc.bindGate(1, 'tls-gate');
    await loc.bindNode(1, 'game', 'tls-node');
    assert.equal(await loc.locateGate(1), 'tls-gate');
    assert.equal(await loc.locateNode(1, 'game'), 'tls-node');

    const plain = new RedisLocator({ addrs: [server.addr], prefix: uniquePrefix(), startupWaitMs: 300 });
    t.after(() => plain[Symbol.asyncDispose]());
    await assert.rejects(plain.bindGate(1, 'g'), (err: unknown) => {
      return err instanceof Error && (err as { code?: unknown }).code === ErrorCode.UNAVAILABLE;
    });
  });
});
