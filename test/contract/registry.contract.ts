import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { ClosedError, ErrorCode } from '../../src/errors.js';
import type { Registry, ServiceInstance, ServiceKind } from '../../src/registry/registry.js';

/**
 * The behaviour every Registry must have (registry.ts): memory, Consul (against the stand-in) and NATS KV run it.
 * A backend hands out registries that share one store, like processes sharing one Consul or NATS.
 */
export interface RegistryBackend {
  /** A registry on this backend; two calls are two "processes" (memory may return the same object). */
  open(): Promise<Registry>;
  /** Disposes every registry opened, then the backend. */
  close(): Promise<void>;
}

export interface RegistryContractOptions {
  /** Deadline for a change to show up in a watch or in services(). Default 5 s. */
  settleMs?: number;
  /** Contract tests this backend is known to fail, reported as todo with the reason instead of run. */
  knownBugs?: Partial<Record<'closed-calls', string>>;
}

export function sampleInstance(over: Partial<ServiceInstance> = {}): ServiceInstance {
  const id = over.id ?? randomUUID();
  return {
    id,
    kind: 'node',
    name: 'game',
    state: 'work',
    endpoint: `bus://duet/node/${id}`,
    weight: 3,
    routes: [
      { id: 1, internal: false, stateful: false, authorized: false },
      { id: 2, internal: false, stateful: true, authorized: false },
      { id: 3, internal: true, stateful: false, authorized: false },
      { id: 4, internal: false, stateful: true, authorized: true },
      { id: -7, internal: true, stateful: true, authorized: true },
    ],
    events: [1, 3],
    metadata: { region: 'eu-west', 'build-id': '42' },
    ...over,
  };
}

function byId(list: readonly ServiceInstance[]): ServiceInstance[] {
  return [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Pulls a watch stream with a deadline per value, so a missing update fails the test instead of hanging it. */
export class WatchReader {
  readonly #it: AsyncIterator<ServiceInstance[]>;
  readonly seen: ServiceInstance[][] = [];

  constructor(stream: AsyncIterable<ServiceInstance[]>) {
    this.#it = stream[Symbol.asyncIterator]();
  }

  async next(ms: number): Promise<IteratorResult<ServiceInstance[]>> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no watch value within ${ms} ms; seen ${JSON.stringify(this.seen)}`)),
        ms,
      );
    });
    try {
      const r = await Promise.race([this.#it.next(), deadline]);
      if (!r.done) this.seen.push(r.value);
      return r;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads until a list satisfies `ok` (backends may report intermediate lists), within `ms` overall. */
  async until(ok: (list: ServiceInstance[]) => boolean, ms: number): Promise<ServiceInstance[]> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await this.next(Math.max(1, end - Date.now()));
      if (r.done) throw new Error(`watch ended before the expected list; seen ${JSON.stringify(this.seen)}`);
      if (ok(r.value)) return r.value;
    }
  }

  /** Resolves once the stream has ended (within `ms`), skipping any values still queued. */
  async ended(ms: number): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await this.next(Math.max(1, end - Date.now()));
      if (r.done) return;
    }
  }
}

/** Polls services() until `ok`, within `ms`. */
export async function servicesUntil(
  reg: Registry,
  kind: ServiceKind,
  ok: (list: ServiceInstance[]) => boolean,
  ms: number,
): Promise<ServiceInstance[]> {
  const end = Date.now() + ms;
  let last: ServiceInstance[] = [];
  while (Date.now() < end) {
    last = await reg.services(kind);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`services(${kind}) never matched within ${ms} ms; last ${JSON.stringify(last)}`);
}

const ids = (list: readonly ServiceInstance[]): string[] => list.map((i) => i.id).sort();

export function registryContract(
  name: string,
  make: () => Promise<RegistryBackend>,
  opts: RegistryContractOptions = {},
): void {
  const settle = opts.settleMs ?? 5_000;

  describe(`registry contract: ${name}`, () => {
    const setup = async (t: { after(fn: () => Promise<void>): void }): Promise<RegistryBackend> => {
      const backend = await make();
      t.after(() => backend.close());
      return backend;
    };

    test(`${name} - register then services() lists it with every field intact`, async (t) => {
      const reg = await (await setup(t)).open();
      const a = sampleInstance();
      const b = sampleInstance({ weight: 0, events: [], routes: [], metadata: {}, state: 'busy', name: 'chat' });
      await reg.register(a);
      await reg.register(b);
      const list = await servicesUntil(reg, 'node', (l) => l.length === 2, settle);
      assert.deepEqual(byId(list), byId([a, b]));
    });

    test(`${name} - an instance registered by one process is seen by another`, async (t) => {
      const backend = await setup(t);
      const writer = await backend.open();
      const reader = await backend.open();
      const a = sampleInstance({ kind: 'gate', weight: 0, routes: [], events: [] });
      await writer.register(a);
      const list = await servicesUntil(reader, 'gate', (l) => l.length === 1, settle);
      assert.deepEqual(list, [a]);
    });

    test(`${name} - re-register with another state updates services() and watchers`, async (t) => {
      const reg = await (await setup(t)).open();
      const a = sampleInstance();
      await reg.register(a);
      await servicesUntil(reg, 'node', (l) => l.length === 1, settle);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const w = new WatchReader(reg.watch('node', ac.signal));
      assert.deepEqual((await w.next(settle)).value, [a]);
      await reg.register({ ...a, state: 'hang' });
      const changed = await w.until((l) => l[0]?.state === 'hang', settle);
      assert.deepEqual(changed, [{ ...a, state: 'hang' }]);
      assert.deepEqual(await reg.services('node'), [{ ...a, state: 'hang' }]);
    });

    test(`${name} - deregister removes it and deregistering again is harmless`, async (t) => {
      const reg = await (await setup(t)).open();
      const a = sampleInstance();
      const b = sampleInstance();
      await reg.register(a);
      await reg.register(b);
      await servicesUntil(reg, 'node', (l) => l.length === 2, settle);
      await reg.deregister(a);
      const list = await servicesUntil(reg, 'node', (l) => l.length === 1, settle);
      assert.deepEqual(ids(list), [b.id]);
      await reg.deregister(a);
      assert.deepEqual(ids(await reg.services('node')), [b.id]);
    });

    test(`${name} - watch yields the initial list, then the list after each change, and ends on abort`, async (t) => {
      const reg = await (await setup(t)).open();
      const a = sampleInstance();
      const b = sampleInstance();
      await reg.register(a);
      await servicesUntil(reg, 'node', (l) => l.length === 1, settle);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const w = new WatchReader(reg.watch('node', ac.signal));
      assert.deepEqual((await w.next(settle)).value, [a], 'the first value is the list as it is now');
      await reg.register(b);
      assert.deepEqual(byId(await w.until((l) => l.length === 2, settle)), byId([a, b]));
      await reg.deregister(a);
      assert.deepEqual(await w.until((l) => l.length === 1, settle), [b]);
      await reg.deregister(b);
      assert.deepEqual(await w.until((l) => l.length === 0, settle), []);
      ac.abort();
      await w.ended(settle);
    });

    test(`${name} - a watch started on an empty registry yields [] first`, async (t) => {
      const reg = await (await setup(t)).open();
      const ac = new AbortController();
      t.after(() => ac.abort());
      const w = new WatchReader(reg.watch('gate', ac.signal));
      assert.deepEqual((await w.next(settle)).value, []);
      const g = sampleInstance({ kind: 'gate' });
      await reg.register(g);
      assert.deepEqual(await w.until((l) => l.length === 1, settle), [g]);
    });

    test(`${name} - a watch on an already aborted signal ends at once`, async (t) => {
      const reg = await (await setup(t)).open();
      const w = new WatchReader(reg.watch('node', AbortSignal.abort()));
      const r = await w.next(settle);
      assert.equal(r.done, true);
    });

    test(`${name} - two kinds are kept apart, even with the same id`, async (t) => {
      const reg = await (await setup(t)).open();
      const id = randomUUID();
      const gate = sampleInstance({ id, kind: 'gate', name: 'gate', weight: 0, routes: [], events: [] });
      const node = sampleInstance({ id, kind: 'node' });
      const ac = new AbortController();
      t.after(() => ac.abort());
      const gates = new WatchReader(reg.watch('gate', ac.signal));
      assert.deepEqual((await gates.next(settle)).value, []);
      await reg.register(gate);
      await reg.register(node);
      assert.deepEqual(await servicesUntil(reg, 'node', (l) => l.length === 1, settle), [node]);
      assert.deepEqual(await servicesUntil(reg, 'gate', (l) => l.length === 1, settle), [gate]);
      assert.deepEqual(await gates.until((l) => l.length === 1, settle), [gate]);
      await reg.deregister(node);
      await servicesUntil(reg, 'node', (l) => l.length === 0, settle);
      assert.deepEqual(await reg.services('gate'), [gate]);
    });

    test(`${name} - dispose ends open watches and later registers reject with ${ErrorCode.CLOSED}`, async (t) => {
      const reg = await (await setup(t)).open();
      const ac = new AbortController();
      t.after(() => ac.abort());
      const w = new WatchReader(reg.watch('node', ac.signal));
      assert.deepEqual((await w.next(settle)).value, []);
      await reg[Symbol.asyncDispose]();
      await w.ended(settle);
      await assert.rejects(reg.register(sampleInstance()), (err: unknown) => {
        return err instanceof ClosedError && err.code === ErrorCode.CLOSED;
      });
      await reg[Symbol.asyncDispose]();
    });

    const closedBug = opts.knownBugs?.['closed-calls'];
    test(
      `${name} - after dispose, a new watch ends at once and services() rejects with ${ErrorCode.CLOSED}`,
      closedBug ? { todo: closedBug } : {},
      async (t) => {
        const reg = await (await setup(t)).open();
        await reg.register(sampleInstance());
        await reg[Symbol.asyncDispose]();
        const w = new WatchReader(reg.watch('node', new AbortController().signal));
        assert.equal((await w.next(settle)).done, true, 'a watch on a closed registry yields nothing and ends');
        await assert.rejects(reg.services('node'), ClosedError);
      },
    );
  });
}
