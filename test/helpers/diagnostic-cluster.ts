import { MemoryBus } from '../../src/bus/memory-bus.js';
import { DiagnosticRoute, registerDiagnostics } from '../../src/demo/diagnostics.js';
import { Gate } from '../../src/gate/gate.js';
import { MemoryLocator } from '../../src/locate/memory-locator.js';
import { createWsTransport } from '../../src/network/ws-transport.js';
import type { NodeApp } from '../../src/node/app.js';
import { Node } from '../../src/node/node.js';
import { PacketCodec } from '../../src/packet/codec.js';
import type { PacketOptions } from '../../src/packet/options.js';
import { MemoryRegistry } from '../../src/registry/memory-registry.js';
import type { CaptureSink } from '../../src/replay/capture-sink.js';
import type { TraceSink } from '../../src/trace/trace.js';

/**
 * A gate and a demo node in this process on the memory adapters, with the trace and capture sinks a test chooses
 * (test/harness/embedded.ts fixes its own trace sink), and optionally a changed echo route to prove that replay
 * notices a behaviour change. Listens on 127.0.0.1 with a port the OS picks.
 */
export interface DiagnosticClusterOptions {
  trace?: TraceSink;
  capture?: CaptureSink;
  /** Replaces the echo route's answer (route 1): the body the node responds with, or undefined for no answer. */
  echo?: (body: Uint8Array) => Uint8Array | undefined;
  gateId?: string;
  /** Fixed so whoami answers (`{uid}@{nodeId}`) are the same in every run. */
  nodeId?: string;
  packet?: Partial<PacketOptions>;
  bus?: MemoryBus;
  /** A node app registered instead of the diagnostic routes alone (its stop() runs after the node stops). */
  app?: NodeApp;
}

export interface DiagnosticCluster extends AsyncDisposable {
  url: string;
  gate: Gate;
  node: Node;
  bus: MemoryBus;
}

export async function startDiagnosticCluster(o: DiagnosticClusterOptions = {}): Promise<DiagnosticCluster> {
  const bus = o.bus ?? new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  const codec = new PacketCodec(o.packet);
  const transport = createWsTransport({ host: '127.0.0.1', port: 0, maxPayload: codec.maxFrameBytes });
  const node = new Node({ id: o.nodeId ?? 'node-1', name: 'game', bus, locator, registry, codec, reportError: loud });
  const echo = o.echo;
  if (echo) {
    // Registered before the routes so the echo route's chain holds it: it answers instead of the real handler.
    node.router.use((ctx, next) => {
      if (ctx.route !== DiagnosticRoute.ECHO) return next();
      const answer = echo(ctx.body);
      if (answer) ctx.response(answer);
    });
  }
  if (o.app) await o.app.register(node);
  else registerDiagnostics(node);
  const gate = new Gate({
    id: o.gateId ?? 'gate-1',
    bus,
    locator,
    registry,
    transport,
    codec,
    trace: o.trace,
    capture: o.capture,
    reportError: loud,
  });
  const stop = async (): Promise<void> => {
    await gate.stop({ graceful: true });
    await node.stop();
    await o.app?.stop?.();
    await transport.close();
    if (!o.bus) await bus.drain();
    await locator[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  };
  try {
    await node.start();
    await gate.start();
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return { url: `ws://127.0.0.1:${gate.address?.port}/`, gate, node, bus, [Symbol.asyncDispose]: stop };
}

function loud(err: unknown, context: string): void {
  process.stderr.write(
    `diagnostic cluster: unexpected failure in ${context}: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
}
