/**
 * The only file that imports adapters (docs/contributing.md): builds the bus, locator, registry and transport that the
 * configuration names, and wires gates and nodes from them. Core code receives them through options.
 */
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory-bus.js';
import { connectNatsBus } from './bus/nats-bus.js';
import { natsSecurity } from './bus/nats-security.js';
import { OpSigner } from './bus/op-signature.js';
import { parseListenAddr } from './config/addr.js';
import type { DuetConfig } from './config/schema.js';
import { ConfigError, type ErrorReporter } from './errors.js';
import { Gate } from './gate/gate.js';
import { Cleanup } from './lifecycle.js';
import type { Locator } from './locate/locator.js';
import { MemoryLocator } from './locate/memory-locator.js';
import { RedisLocator } from './locate/redis-locator.js';
import type { Log } from './log/types.js';
import { CompositeTransport } from './network/composite-transport.js';
import { tcpTransportOptions } from './network/tcp-options.js';
import { TcpTransport } from './network/tcp-transport.js';
import type { Transport } from './network/transport.js';
import { createWsTransport, type WsTransportOptions } from './network/ws-transport.js';
import type { NodeApp } from './node/app.js';
import { type BodyCodec, bodyCodec } from './node/body-codec.js';
import { Node } from './node/node.js';
import { PacketCodec } from './packet/codec.js';
import { ConsulRegistry } from './registry/consul-registry.js';
import { EtcdRegistry } from './registry/etcd-registry.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import { createNatsRegistry } from './registry/nats-registry.js';
import type { Registry } from './registry/registry.js';
import type { CaptureSink } from './replay/capture-sink.js';
import { type NodeReplayReport, type ReplayNodeOptions, replayNodeOn } from './replay/node-replay.js';
import { createTraceSink } from './trace/bus-trace-sink.js';
import type { TraceSink } from './trace/trace.js';
import { TraceLeases } from './trace/trace-leases.js';

export interface Adapters {
  bus: Bus;
  locator: Locator;
  registry: Registry;
  /** Names for the banner. */
  names: { bus: string; locator: string; registry: string };
  /** Calls `onChange` on every up/down transition of the NATS connection and the Redis locator; returns stop. */
  watchHealth(onChange: (dependency: 'nats' | 'redis', up: boolean) => void): () => void;
  dispose(): Promise<void>;
}

export interface ComposeExtras {
  log?: Log;
  /** Called after each request handler with its route and duration (node metrics). */
  onHandled?: (route: number, seconds: number) => void;
  /** Called after each service call a node makes (metrics). */
  onCall?: (service: string, method: string, outcome: string, seconds: number) => void;
  trace?: TraceSink;
  capture?: CaptureSink;
  /** Where failures nobody awaits go (lost publishes, bus and locator errors): logged and counted by the caller. */
  reportError?: ErrorReporter;
  /** The gate's id when the caller picks it (its trace leases name it before the gate exists). */
  gateId?: string;
}

/**
 * The gate's trace sink for `duet trace` leases (start() it before the gate, close() it after): off until a
 * tracer holds a lease, or always on with `[trace] enabled`; no cost on the hot path without a tracer.
 */
export function createTraceLeases(config: DuetConfig, a: Adapters, gid: string, log?: Log): TraceLeases {
  return new TraceLeases({
    bus: a.bus,
    prefix: config.bus.nats.prefix,
    gid,
    name: config.cluster.gate.name,
    always: createTraceSink(a.bus, config.trace, config.bus.nats.prefix),
    log,
  });
}

/** Builds the adapters `config` selects. In-process adapters are shared through `shared` (dev: gate + node). */
export async function createAdapters(config: DuetConfig, reportError?: ErrorReporter): Promise<Adapters> {
  const cleanup = new Cleanup();
  try {
    let bus: Bus;
    if (config.bus.adapter === 'nats') {
      const n = config.bus.nats;
      bus = await connectNatsBus({
        servers: [...n.servers],
        name: n.name || undefined,
        user: n.user || undefined,
        pass: n.pass || undefined,
        token: n.token || undefined,
        ...natsSecurity(n),
        onError: reportError,
      });
    } else bus = new MemoryBus();
    cleanup.defer(() => bus.drain());
    const locator = await createLocator(config);
    cleanup.defer(() => locator[Symbol.asyncDispose]());
    const registry = await createRegistry(config, reportError);
    cleanup.defer(() => registry[Symbol.asyncDispose]());
    return {
      bus,
      locator,
      registry,
      names: { bus: config.bus.adapter, locator: config.locate.adapter, registry: config.registry.adapter },
      watchHealth: (onChange) => watchHealth(bus, locator, onChange),
      dispose: async () => {
        await cleanup.run();
      },
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

const REDIS_HEALTH_POLL_MS = 250;

function watchHealth(bus: Bus, locator: Locator, onChange: (d: 'nats' | 'redis', up: boolean) => void): () => void {
  const offBus = bus.onStatus((s) => {
    if (s !== 'closed') onChange('nats', s === 'connected');
  });
  if (!(locator instanceof RedisLocator)) return offBus;
  // The locator has no status events; its status is a cheap read of the two connections' states.
  let up = true;
  const timer = setInterval(() => {
    const now = locator.status === 'ready' || locator.status === 'connecting';
    if (now === up) return;
    up = now;
    onChange('redis', up);
  }, REDIS_HEALTH_POLL_MS);
  return () => {
    offBus();
    clearInterval(timer);
  };
}

async function createLocator(config: DuetConfig): Promise<Locator> {
  if (config.locate.adapter === 'memory') return new MemoryLocator();
  const r = config.locate.redis;
  return new RedisLocator({
    addrs: [...r.addrs],
    db: r.db,
    username: r.username || undefined,
    password: r.password || undefined,
    certFile: r.certFile || undefined,
    keyFile: r.keyFile || undefined,
    caFile: r.caFile || undefined,
    maxRetries: r.maxRetries,
    prefix: r.prefix,
  });
}

async function createRegistry(config: DuetConfig, onError: ErrorReporter | undefined): Promise<Registry> {
  const reg = config.registry;
  if (reg.adapter === 'memory') return new MemoryRegistry();
  if (reg.adapter === 'consul') {
    // due's TCP check targets a drpc port; duet instances have none (they talk over the bus), so only the TTL
    // heartbeat check is registered (see consul-registry.ts).
    return new ConsulRegistry({
      addr: reg.consul.addr,
      token: reg.consul.token || undefined,
      tls: { caFile: reg.consul.caFile, certFile: reg.consul.certFile, keyFile: reg.consul.keyFile },
      heartbeatCheckIntervalMs: reg.consul.heartbeatCheckIntervalMs,
      deregisterCriticalServiceAfterMs: reg.consul.deregisterCriticalServiceAfterMs,
    });
  }
  if (reg.adapter === 'etcd') {
    return new EtcdRegistry({
      addrs: [...reg.etcd.addrs],
      dialTimeoutMs: reg.etcd.dialTimeoutMs,
      namespace: reg.etcd.namespace,
      timeoutMs: reg.etcd.timeoutMs,
      username: reg.etcd.username || undefined,
      password: reg.etcd.password || undefined,
      retryTimes: reg.etcd.retryTimes,
      retryIntervalMs: reg.etcd.retryIntervalMs,
      ...(onError ? { onError } : {}),
    });
  }
  const servers = reg.nats.servers.length > 0 ? [...reg.nats.servers] : [...config.bus.nats.servers];
  return createNatsRegistry({
    servers,
    bucket: reg.nats.bucket,
    refreshIntervalMs: reg.nats.intervalMs,
    replicas: reg.nats.replicas,
    user: config.bus.nats.user || undefined,
    pass: config.bus.nats.pass || undefined,
    token: config.bus.nats.token || undefined,
    ...natsSecurity(config.bus.nats),
  });
}

function opsSigner(config: DuetConfig): OpSigner | undefined {
  return config.bus.opsSecret ? new OpSigner(config.bus.opsSecret) : undefined;
}

export function packetCodec(config: DuetConfig): PacketCodec {
  return new PacketCodec({ ...config.packet });
}

/** `http` serves plain HTTP requests on the WebSocket port (the demo page, health checks). */
export function createTransport(
  config: DuetConfig,
  codec: PacketCodec,
  http?: { handler?: WsTransportOptions['httpHandler']; reportError?: ErrorReporter; log?: Log },
): Transport {
  const ws = config.network.ws.server;
  const addr = parseListenAddr(ws.addr);
  if (!addr)
    throw new ConfigError(
      'network.ws.server.addr',
      ws.addr,
      `network.ws.server.addr must be host:port, got ${ws.addr}`,
    );
  const wsTransport = createWsTransport({
    host: addr.host || undefined,
    port: addr.port,
    path: ws.path,
    origins: [...ws.origins],
    maxConnNum: ws.maxConnNum,
    maxConnPerIp: ws.maxConnPerIp,
    tls: ws.keyFile || ws.certFile ? { keyFile: ws.keyFile, certFile: ws.certFile } : undefined,
    maxPayload: codec.maxFrameBytes,
    writeQueue: { maxMessages: ws.writeQueueSize, maxBytes: ws.writeQueueBytes },
    httpHandler: http?.handler,
    reportError: http?.reportError,
    handshakeTimeoutMs: ws.handshakeTimeoutMs,
    maxHandshakeNum: ws.maxHandshakeNum,
    maxHandshakePerIp: ws.maxHandshakePerIp,
    log: http?.log,
  });
  const tcp = tcpTransportOptions(config, codec.maxFrameBytes);
  if (!tcp) return wsTransport;
  return new CompositeTransport([wsTransport, new TcpTransport({ ...tcp, reportError: http?.reportError })]);
}

export function createGate(
  config: DuetConfig,
  a: Adapters,
  transport: Transport,
  codec: PacketCodec,
  extras: ComposeExtras = {},
): Gate {
  const g = config.cluster.gate;
  const ws = config.network.ws.server;
  return new Gate({
    id: extras.gateId ?? (g.id || undefined),
    name: g.name,
    bus: a.bus,
    locator: a.locator,
    registry: a.registry,
    transport,
    codec,
    prefix: config.bus.nats.prefix,
    dispatch: g.dispatch,
    callTimeoutMs: g.callTimeoutMs,
    nodeLost: g.nodeLost,
    loginsInFlight: g.loginsInFlight,
    heartbeatIntervalMs: ws.heartbeatIntervalMs,
    heartbeatMechanism: ws.heartbeatMechanism,
    authorizeTimeoutMs: ws.authorizeTimeoutMs,
    malformedBudget: ws.malformedBudget,
    rateLimit: ws.rateLimit,
    rateLimitBurst: ws.rateLimitBurst,
    capture: extras.capture,
    metadata: { ...g.metadata },
    resume: {
      windowMs: config.session.resume.windowMs,
      bufferMessages: config.session.resume.bufferMessages,
      bufferBytes: config.session.resume.bufferBytes,
      route: config.session.resume.route,
      secret: config.session.resume.secret,
    },
    log: extras.log,
    reportError: extras.reportError,
    trace: extras.trace ?? createTraceSink(a.bus, config.trace, config.bus.nats.prefix),
    signer: opsSigner(config),
  });
}

export async function createNode(
  config: DuetConfig,
  a: Adapters,
  codec: PacketCodec,
  app: NodeApp,
  extras: ComposeExtras = {},
): Promise<Node> {
  const n = config.cluster.node;
  const body: BodyCodec = bodyCodec(n.codec);
  if (config.actor.leaseTtlMs < 100)
    throw new ConfigError('actor.leaseTtl', config.actor.leaseTtlMs, 'actor.leaseTtl must be at least 100ms');
  const node = new Node({
    id: n.id || undefined,
    name: n.name || app.name || 'node',
    bus: a.bus,
    locator: a.locator,
    registry: a.registry,
    codec,
    body,
    prefix: config.bus.nats.prefix,
    weight: n.weight,
    callTimeoutMs: n.callTimeoutMs,
    livenessIntervalMs: n.livenessIntervalMs,
    metadata: { ...n.metadata },
    log: extras.log,
    reportError: extras.reportError,
    onHandled: extras.onHandled,
    signer: opsSigner(config),
    onCall: extras.onCall,
    actors: {
      mailboxSize: config.actor.mailboxSize,
      idleMs: config.actor.idleTimeoutMs,
      leaseTtlMs: config.actor.leaseTtlMs,
    },
  });
  await app.register(node);
  return node;
}

/**
 * Replays a bus capture (`duet capture --node`) into a node app in this process and diffs the ops it sends against
 * the recorded ones (src/replay/node-replay.ts); the in-process bus, locator and registry are picked here.
 */
export async function replayNode(o: ReplayNodeOptions): Promise<NodeReplayReport> {
  const bus = new MemoryBus();
  const locator = new MemoryLocator();
  const registry = new MemoryRegistry();
  try {
    return await replayNodeOn({ bus, locator, registry }, o);
  } finally {
    await bus.drain();
    await locator[Symbol.asyncDispose]();
    await registry[Symbol.asyncDispose]();
  }
}
