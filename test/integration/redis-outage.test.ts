import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { ErrorCode } from '../../src/errors.js';
import type { LocateEvent } from '../../src/locate/locator.js';
import { RedisLocator, type RedisLocatorOptions } from '../../src/locate/redis-locator.js';
import { freePort } from '../harness/free-port.js';
import { liveRedisServers, type RedisServer, startRedis } from '../harness/redis.js';

/**
 * The locator through Redis outages: a killed server (connection refused), a hung one (SIGSTOP: the socket stays
 * open, nothing answers) and one that never came up. Each test owns its redis-server, since it breaks it.
 */

let prefixSeq = 0;

after(() => {
  assert.equal(liveRedisServers(), 0, 'every redis-server this file started is gone');
});

function isUnavailable(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === ErrorCode.UNAVAILABLE;
}

async function ownRedis(t: TestContext): Promise<RedisServer> {
  const server = await startRedis();
  t.after(() => server[Symbol.asyncDispose]());
  return server;
}

function locatorFor(t: TestContext, server: RedisServer | string, opts: RedisLocatorOptions = {}): RedisLocator {
  const addr = typeof server === 'string' ? server : server.addr;
  const loc = new RedisLocator({
    addrs: [addr],
    prefix: `duet-outage:${process.pid}:${++prefixSeq}`,
    reconnectMaxDelayMs: 200,
    ...opts,
  });
  t.after(() => loc[Symbol.asyncDispose]());
  return loc;
}

/** Records unhandled rejections and uncaught exceptions for the length of one test. */
function trapUnhandled(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    seen.push(reason);
  };
  const onException = (err: unknown): void => {
    seen.push(err);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  t.after(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  return seen;
}

async function pollUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `p`, asserts it rejects with DUET_ERR_UNAVAILABLE, and returns how long that took in ms. */
async function unavailableAfter(p: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(p(), (err: unknown) => {
    assert.ok(isUnavailable(err), `expected DUET_ERR_UNAVAILABLE, got ${String(err)}`);
    return true;
  });
  return performance.now() - t0;
}

describe('redis locator - outages', () => {
  it('redis outage - killed Redis: writes fail fast, cached lookups answer; after restart the cache is resynced', async (t) => {
    const unhandled = trapUnhandled(t);
    const server = await ownRedis(t);
    const reported: string[] = [];
    const loc = locatorFor(t, server, { onError: (_err, context) => reported.push(context) });
    await loc.ready();
    const ac = new AbortController();
    t.after(() => ac.abort());
    const events = loc.watch(['gate'], ac.signal)[Symbol.asyncIterator]();

    await loc.bindGate(1, 'gate-old');
    await loc.bindNode(1, 'game', 'node-old');
    assert.equal((await events.next()).value?.insID, 'gate-old');
    assert.equal(await loc.locateGate(1), 'gate-old');
    assert.equal(await loc.locateNode(1, 'game'), 'node-old');
    const readsCached = loc.stats().reads;
    assert.equal(await loc.locateGate(1), 'gate-old');
    assert.equal(loc.stats().reads, readsCached, 'uid 1 is cached before the outage');

    await server.kill();
    // Right after the kill ioredis may not have seen the socket close yet: the bound is commandTimeoutMs (3 s).
    const firstMs = await unavailableAfter(() => loc.bindGate(2, 'gate-2'));
    assert.ok(firstMs < 3_500, `first bind after the kill rejected in ${firstMs.toFixed(0)} ms`);
    await pollUntil(() => loc.status === 'down', 5_000, 'the locator to notice the outage');
    const downMs = await unavailableAfter(() => loc.bindGate(2, 'gate-2'));
    assert.ok(downMs < 50, `bind while known down rejected in ${downMs.toFixed(1)} ms`);
    t.diagnostic(`first bind after kill rejected in ${firstMs.toFixed(1)} ms, later ones in ${downMs.toFixed(2)} ms`);
    await unavailableAfter(() => loc.unbindGate(1, 'gate-old'));
    await unavailableAfter(() => loc.bindNode(1, 'game', 'node-new'));
    await unavailableAfter(() => loc.locateGate(999));
    await assert.rejects(loc.bindGate(3, 'g'), (err: unknown) => err instanceof Error && err.cause !== undefined);

    assert.equal(await loc.locateGate(1), 'gate-old', 'a cached uid is still served');
    assert.equal(await loc.locateNode(1, 'game'), 'node-old');
    await pollUntil(() => loc.stats().connectionErrors >= 4, 5_000, 'several failed reconnect attempts');
    assert.ok(reported.length <= 2, `one report per connection per outage, got ${reported.length}`);

    // Restart on the same port with empty data, and change a key behind the locator's back (no event).
    await server.restart();
    const raw = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 0 });
    raw.on('error', () => {});
    t.after(() => raw.disconnect());
    await raw.set(`${loc.prefix}:locate:user:1:gate`, 'gate-new');
    await loc.ready(undefined, 10_000);
    assert.equal(loc.status, 'ready');
    assert.equal(await loc.locateGate(1), 'gate-new', 'the cache was dropped on reconnect, so the key is read fresh');
    assert.equal(await loc.locateNode(1, 'game'), undefined, 'the node binding died with the old Redis');
    assert.ok(loc.stats().reconnects >= 1);
    assert.ok(loc.stats().drops >= 1);

    await loc.bindGate(2, 'gate-2');
    assert.equal(await loc.locateGate(2), 'gate-2', 'binds work again (scripts re-sent after the restart)');
    const after = await events.next();
    assert.deepEqual(
      { ...(after.value as LocateEvent) },
      {
        uid: 2,
        type: 1,
        insID: 'gate-2',
        insKind: 'gate',
        insName: '',
      },
    );
    assert.deepEqual(unhandled, [], 'no unhandled rejection or exception');
  });

  it('redis outage - a hung Redis (SIGSTOP) fails calls after commandTimeoutMs, then recovers', async (t) => {
    const unhandled = trapUnhandled(t);
    const server = await ownRedis(t);
    const loc = locatorFor(t, server, { commandTimeoutMs: 300 });
    await loc.ready();
    await loc.bindGate(5, 'g5');
    assert.equal(await loc.locateGate(5), 'g5');
    process.kill(server.pid, 'SIGSTOP');
    let stopped = true;
    t.after(() => {
      if (stopped) process.kill(server.pid, 'SIGCONT');
    });
    const ms = await unavailableAfter(() => loc.bindGate(6, 'g6'));
    t.diagnostic(`bind on a hung Redis rejected after ${ms.toFixed(0)} ms (commandTimeoutMs 300)`);
    assert.ok(ms >= 250 && ms < 1_500, `bind on a hung Redis rejected after ${ms.toFixed(0)} ms`);
    process.kill(server.pid, 'SIGCONT');
    stopped = false;
    await loc.ready(undefined, 5_000);
    await loc.bindGate(6, 'g6');
    assert.equal(await loc.locateGate(6), 'g6');
    assert.deepEqual(unhandled, []);
  });

  it('redis outage - calls before the first connection wait startupWaitMs, then fail; dispose is prompt', async (t) => {
    const unhandled = trapUnhandled(t);
    const port = await freePort();
    const loc = locatorFor(t, `127.0.0.1:${port}`, { startupWaitMs: 300 });
    const ms = await unavailableAfter(() => loc.bindGate(1, 'g'));
    assert.ok(ms >= 250 && ms < 1_500, `bind with no Redis rejected after ${ms.toFixed(0)} ms`);
    await unavailableAfter(() => loc.locateNode(1, 'game'));
    await unavailableAfter(() => loc.ready());
    const t0 = performance.now();
    await loc[Symbol.asyncDispose]();
    assert.ok(performance.now() - t0 < 1_000, 'dispose does not wait for a Redis that is not there');
    assert.deepEqual(unhandled, []);
  });
});
