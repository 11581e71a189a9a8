// Fuzz of the gate's frame hot path (issue 10, docs/protocol.md, Errors): random and mutated frames go straight into the
// gate's FrameHandler through an in-memory Transport (no sockets: unit/), with a real Node on the memory bus behind
// it. Bounded for `npm test`; FUZZ_RUNS raises the run count (`npm run fuzz`).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import { CloseCode, ErrorCode } from '../../src/errors.js';
import type { MalformedReason } from '../../src/gate/counters.js';
import { Gate } from '../../src/gate/gate.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import type {
  Connection,
  ConnectionHandler,
  Lane,
  SendResult,
  Transport,
  TransportStats,
} from '../../src/network/transport.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';

const RUNS = runsFromEnv(process.env.FUZZ_RUNS, 1000);
/** Frames per property run; RUNS × this bounds the frames a run of `npm test` sends (≈ 2,000 to 20,000). */
const MAX_FRAMES_PER_RUN = 20;

function runsFromEnv(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${raw}`);
  return n;
}

/** A Connection whose "socket" is an array: what the gate sent, and how it closed. */
class MemoryConnection implements Connection {
  readonly cid: number;
  readonly remote = '127.0.0.1';
  readonly sent: { frame: Uint8Array; lane: Lane }[] = [];
  closeCode: number | undefined;
  readonly bufferedBytes = 0;
  readonly bytesIn = 0;
  readonly bytesOut = 0;
  readonly #transport: MemoryTransport;

  constructor(cid: number, transport: MemoryTransport) {
    this.cid = cid;
    this.#transport = transport;
  }

  send(frame: Uint8Array, lane: Lane = 'push'): SendResult {
    if (this.closeCode !== undefined) return 'closed';
    this.sent.push({ frame: frame.slice(), lane });
    return 'sent';
  }

  close(code: number, reason = ''): Promise<void> {
    this.#end(code, reason);
    return Promise.resolve();
  }

  terminate(): void {
    this.#end(1006, 'terminated');
  }

  pauseReading(): void {}

  resumeReading(): void {}

  #end(code: number, reason: string): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    this.#transport.ended(this, code, reason);
  }
}

/** The Transport seam (src/network/transport.ts) with no network: tests open connections and push frames by hand. */
class MemoryTransport implements Transport {
  handler: ConnectionHandler | undefined;
  readonly open = new Set<MemoryConnection>();
  readonly stats: TransportStats = { connections: 0, refused: {} };
  #cid = 0;

  listen(handler: ConnectionHandler): Promise<{ host: string; port: number }> {
    this.handler = handler;
    return Promise.resolve({ host: 'memory', port: 0 });
  }

  connect(): MemoryConnection {
    const c = new MemoryConnection(++this.#cid, this);
    this.open.add(c);
    this.stats.connections = this.open.size;
    this.handler?.open(c);
    return c;
  }

  /** As ws-transport does: the frame view is only valid during the call. */
  frame(c: MemoryConnection, bytes: Uint8Array): void {
    if (c.closeCode === undefined) this.handler?.frame(c, bytes);
  }

  ended(c: MemoryConnection, code: number, reason: string): void {
    if (!this.open.delete(c)) return;
    this.stats.connections = this.open.size;
    this.handler?.closed(c, code, reason);
  }

  refuseNew(): void {}

  async close(): Promise<void> {
    for (const c of [...this.open]) c.terminate();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const MALFORMED_REASON: Record<string, MalformedReason> = {
  [ErrorCode.PACKET_SHORT]: 'short',
  [ErrorCode.PACKET_SIZE_MISMATCH]: 'size_mismatch',
  [ErrorCode.PACKET_TOO_LARGE]: 'too_large',
};

/** Small bufferBytes so random frames reach the size limit often; every frame stays ≤ maxFrameBytes (ws's job). */
const codec = new PacketCodec({ bufferBytes: 48 });

const validFrame = fc
  .record({
    route: fc.oneof(fc.constantFrom(1, 2, 3, 4, 99), fc.integer({ min: -32768, max: 32767 })),
    seq: fc.integer({ min: 0, max: 32767 }),
    body: fc.uint8Array({ maxLength: 48 }),
  })
  .map((m) => codec.encode(m));

/** Mutations of valid frames and heartbeats: flip, truncate, append, rewrite the size field, toggle the type bit. */
const mutatedFrame = fc
  .tuple(
    fc.oneof(validFrame, fc.constant(codec.encodeHeartbeat())),
    fc.constantFrom('flip', 'truncate', 'append', 'size', 'type'),
    fc.nat(),
    fc.integer({ min: 0, max: 255 }),
  )
  .map(([f, op, at, byte]) => {
    const b = Buffer.from(f);
    switch (op) {
      case 'flip':
        b[at % b.length] = ((b[at % b.length] as number) ^ (1 << (byte % 8))) & 0xff;
        return b;
      case 'truncate':
        return b.subarray(0, at % b.length);
      case 'append':
        return Buffer.concat([b, Buffer.alloc(1 + (byte % 8), byte)]).subarray(0, codec.maxFrameBytes);
      case 'size':
        b[at % 4] = byte;
        return b;
      default:
        if (b.length > 4) b[4] = (b[4] as number) ^ 0x80;
        return b;
    }
  });

const randomFrame = fc.uint8Array({ maxLength: codec.maxFrameBytes });
const anyFrame = fc.oneof(randomFrame, mutatedFrame, validFrame, fc.constant(codec.encodeHeartbeat()));

/** What the gate should count for `bytes`: the malformed reason, or undefined for a frame it accepts. */
function expectedReason(bytes: Uint8Array): MalformedReason | undefined {
  if (bytes.length === 0) return undefined;
  const r = codec.decode(bytes);
  return r.ok ? undefined : (MALFORMED_REASON[r.error.code] ?? 'other');
}

interface Rig {
  gate: Gate;
  node: Node;
  transport: MemoryTransport;
  failures: string[];
  stop(): Promise<void>;
}

async function startRig(malformedBudget: number): Promise<Rig> {
  const failures: string[] = [];
  const report = (err: unknown, context: string): void => {
    failures.push(`${context}: ${err instanceof Error ? err.stack : String(err)}`);
  };
  const bus = new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  const transport = new MemoryTransport();
  const node = new Node({ id: 'fuzz-node', name: 'game', bus, locator, registry, codec, reportError: report });
  registerDiagnostics(node);
  await node.start();
  const gate = new Gate({
    id: 'fuzz-gate',
    bus,
    locator,
    registry,
    transport,
    codec,
    malformedBudget,
    heartbeatIntervalMs: 0,
    reportError: report,
  });
  await gate.start();
  return {
    gate,
    node,
    transport,
    failures,
    stop: async () => {
      await gate.stop({ graceful: false });
      await node.stop();
      await bus.drain();
      await locator[Symbol.asyncDispose]();
      await registry[Symbol.asyncDispose]();
    },
  };
}

/** Sends one echo request and resolves with the response frame the gate wrote to `c`. */
async function echo(t: MemoryTransport, c: MemoryConnection, body: string): Promise<Uint8Array> {
  const frame = codec.encode({ route: 1, seq: 7, body: new TextEncoder().encode(body) });
  const from = c.sent.length;
  t.frame(c, frame);
  const deadline = Date.now() + 3000;
  for (;;) {
    const hit = c.sent.slice(from).find((s) => {
      const r = codec.decode(s.frame);
      return r.ok && r.packet.kind === 'data' && r.packet.route === 1 && r.packet.seq === 7;
    });
    if (hit) return hit.frame;
    if (Date.now() > deadline) throw new Error(`no echo within 3 s (closed: ${c.closeCode})`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('frame fuzz', { timeout: 30 * 60_000 }, () => {
  const escaped: unknown[] = [];
  const onEscape = (err: unknown): void => {
    escaped.push(err);
  };
  before(() => {
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
  });
  after(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });

  test('frame fuzz - random and mutated frames never throw, each malformed one is counted by its reason', async (t) => {
    const rig = await startRig(0);
    t.after(() => rig.stop());
    const counted = { short: 0, size_mismatch: 0, too_large: 0, other: 0 } satisfies Record<MalformedReason, number>;
    let frames = 0;
    fc.assert(
      fc.property(fc.array(anyFrame, { minLength: 1, maxLength: MAX_FRAMES_PER_RUN }), (batch) => {
        const c = rig.transport.connect();
        const before = { ...rig.gate.counters.malformed };
        const want = { short: 0, size_mismatch: 0, too_large: 0, other: 0 };
        for (const f of batch) {
          const reason = expectedReason(f);
          if (reason) want[reason]++;
          rig.transport.frame(c, f);
          frames++;
        }
        const got = rig.gate.counters.malformed;
        for (const k of Object.keys(want) as MalformedReason[]) {
          assert.equal(got[k] - before[k], want[k], `malformed.${k}`);
          counted[k] += want[k];
        }
        // With the budget off, malformed frames never close a connection (docs/protocol.md, Errors).
        assert.equal(c.closeCode, undefined);
        c.terminate();
      }),
      { numRuns: RUNS },
    );
    t.diagnostic(`${frames} frames, malformed by reason ${JSON.stringify(counted)}`);
    assert.ok(counted.short > 0 && counted.size_mismatch > 0, 'the generators reach both common reasons');
    // After all that: a fresh connection still echoes, and nothing escaped or was reported as unexpected.
    const c = rig.transport.connect();
    for (let i = 0; i < 200; i++) rig.transport.frame(c, Buffer.from([0, 0, 0, i % 5, 0]));
    const reply = await echo(rig.transport, c, 'still alive');
    assert.equal(Buffer.from(reply).subarray(9).toString(), 'still alive');
    assert.deepEqual(escaped, []);
    assert.deepEqual(rig.failures, []);
  });

  test('frame fuzz - a connection over the malformed budget is closed with 4004 exactly at budget + 1', async (t) => {
    const budget = 10;
    const rig = await startRig(budget);
    t.after(() => rig.stop());
    const garbage = fc.uint8Array({ minLength: 1, maxLength: codec.maxFrameBytes }).filter((f) => {
      const r = expectedReason(f);
      return r !== undefined && r !== 'too_large';
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(garbage, validFrame), { minLength: budget + 1, maxLength: 40 }), (batch) => {
        const c = rig.transport.connect();
        let bad = 0;
        for (const f of batch) {
          if (c.closeCode !== undefined) break;
          if (expectedReason(f)) bad++;
          rig.transport.frame(c, f);
          // Open up to the budget, closed with 4004 at the first malformed frame past it.
          assert.equal(c.closeCode, bad > budget ? CloseCode.MALFORMED_BUDGET : undefined, `after ${bad} bad`);
        }
        c.terminate();
      }),
      { numRuns: Math.max(50, Math.round(RUNS / 10)) },
    );
    const c = rig.transport.connect();
    await echo(rig.transport, c, 'ok');
    assert.deepEqual(escaped, []);
    assert.deepEqual(rig.failures, []);
  });
});
