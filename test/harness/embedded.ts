import { MemoryBus } from '../../src/bus/memory-bus.js';
import { registerDiagnostics } from '../../src/demo/diagnostics.js';
import type { HeartbeatMechanism } from '../../src/gate/frames.js';
import { Gate } from '../../src/gate/gate.js';
import type { ResumeOptions } from '../../src/gate/resume.js';
import type { DispatchStrategy } from '../../src/gate/strategy.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import type { WriteQueueBudget } from '../../src/network/connection.js';
import { createWsTransport, type WsTransport } from '../../src/network/ws-transport.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import type { PacketOptions } from '../../src/packet/options.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import { MemoryTraceSink } from '../../src/trace/trace.js';

/**
 * A gate and a demo node (the diagnostic routes) in this process, on the memory bus, locator and registry, with a
 * real WebSocket listener on 127.0.0.1 and a port the OS picks. Everything it starts is stopped by dispose.
 */

export interface EmbeddedOptions {
  heartbeatIntervalMs: number;
  heartbeatMechanism: HeartbeatMechanism;
  authorizeTimeoutMs: number;
  malformedBudget: number;
  dispatch: DispatchStrategy;
  packet: Partial<PacketOptions>;
  origins: readonly string[];
  path: string;
  maxConnNum: number;
  tls: { keyFile: string; certFile: string };
  /** Graceful close deadline of the transport (flush + close handshake). */
  closeTimeoutMs: number;
  /** Outbound budget per connection (slow consumers are closed with 4006 past it). */
  writeQueue: Partial<WriteQueueBudget>;
  /** Runs on the node before it starts, after the diagnostic routes (extra routes and event handlers). */
  register: (node: Node) => void;
  /** Shared adapters, to put a second gate or node on the same in-process cluster. */
  shared: { bus: MemoryBus; locator: MemoryLocator; registry: MemoryRegistry };
  /** false: start no node (a second gate on a shared cluster). */
  withNode: boolean;
  gateId: string;
  nodeId: string;
  /** Resumable sessions (issue 11); off by default. */
  resume: ResumeOptions;
  /** The gate's cluster.gate.callTimeout (its takeover requests to other gates). */
  callTimeoutMs: number;
  /** The gate's cluster.gate.loginsInFlight (login admission). */
  loginsInFlight: number;
}

export interface Embedded extends AsyncDisposable {
  url: string;
  port: number;
  gate: Gate;
  /** Undefined only when started with withNode: false. */
  node: Node;
  transport: WsTransport;
  codec: PacketCodec;
  bus: MemoryBus;
  locator: MemoryLocator;
  registry: MemoryRegistry;
  trace: MemoryTraceSink;
}

export async function startEmbedded(o: Partial<EmbeddedOptions> = {}): Promise<Embedded> {
  const bus = o.shared?.bus ?? new MemoryBus();
  const locator = o.shared?.locator ?? new MemoryLocator();
  const registry = o.shared?.registry ?? new MemoryRegistry();
  const ownsAdapters = o.shared === undefined;
  const codec = new PacketCodec(o.packet);
  const trace = new MemoryTraceSink();
  const transport = createWsTransport({
    host: '127.0.0.1',
    port: 0,
    path: o.path,
    origins: o.origins,
    maxConnNum: o.maxConnNum,
    tls: o.tls,
    maxPayload: codec.maxFrameBytes,
    closeTimeoutMs: o.closeTimeoutMs,
    writeQueue: o.writeQueue,
  });
  const node =
    o.withNode === false
      ? undefined
      : new Node({ id: o.nodeId, name: 'game', bus, locator, registry, codec, reportError: failLoudly });
  const gate = new Gate({
    id: o.gateId,
    bus,
    locator,
    registry,
    transport,
    codec,
    dispatch: o.dispatch,
    heartbeatIntervalMs: o.heartbeatIntervalMs,
    heartbeatMechanism: o.heartbeatMechanism,
    authorizeTimeoutMs: o.authorizeTimeoutMs,
    malformedBudget: o.malformedBudget,
    trace,
    resume: o.resume,
    callTimeoutMs: o.callTimeoutMs,
    loginsInFlight: o.loginsInFlight,
    reportError: failLoudly,
  });
  const stop = async (): Promise<void> => {
    await gate.stop({ graceful: true });
    await node?.stop();
    await transport.close();
    if (ownsAdapters) {
      await bus.drain();
      await locator[Symbol.asyncDispose]();
      await registry[Symbol.asyncDispose]();
    }
  };
  try {
    if (node) {
      registerDiagnostics(node);
      o.register?.(node);
      // The node registers first so the gate's first route table already holds the diagnostic routes.
      await node.start();
    }
    await gate.start();
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  const port = gate.address?.port ?? 0;
  const scheme = o.tls ? 'wss' : 'ws';
  return {
    url: `${scheme}://127.0.0.1:${port}${o.path && o.path !== '/' ? o.path : '/'}`,
    port,
    gate,
    node: node as Node,
    transport,
    codec,
    bus,
    locator,
    registry,
    trace,
    [Symbol.asyncDispose]: stop,
  };
}

/** A failure inside the gate or node that its code did not expect: make it visible in the test output. */
function failLoudly(err: unknown, context: string): void {
  process.stderr.write(
    `embedded: unexpected failure in ${context}: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
}

/** Polls `cond` until true or the deadline passes (docs/contributing.md: poll with a deadline, never sleep to synchronize). */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
