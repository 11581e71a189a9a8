/**
 * duet's public surface (`import … from 'duet'`): everything a node app, an embedder or an adapter author names.
 * The browser and Node client SDK is a separate entry, `duet/client`. Nothing here comes from the demo app.
 */

// The adapter interfaces, and the in-process implementations for embedding and tests.
export type {
  Bus,
  BusMessage,
  BusStatus,
  RequestOptions as BusRequestOptions,
  SubscribeOptions,
  Subscription,
} from './bus/bus.js';
export { MemoryBus } from './bus/memory-bus.js';
// Composition: adapters from a config, then gates and nodes on them (what `duet gate` and `duet node` do).
export {
  type Adapters,
  type ComposeExtras,
  createAdapters,
  createGate,
  createNode,
  createTransport,
  packetCodec,
  replayNode,
} from './compose.js';
// Configuration: the schema's resolved type, the loader (files, env, --set) and its options.
export {
  DEFAULT_CONFIG_DIR,
  type DuetConfig,
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
  MODES,
  type Mode,
  ROLES,
  type Role,
  SCHEMA,
} from './config/index.js';
// Errors (typed, with codes) and lifecycle.
export * from './errors.js';
export type { HeartbeatMechanism } from './gate/frames.js';
// Gates.
export { Gate, type GateOptions } from './gate/gate.js';
export type { ResumeOptions } from './gate/resume.js';
export type { DispatchStrategy } from './gate/strategy.js';
export { Cleanup, type CleanupStep, type Service, type ServiceRunState, type StopOptions } from './lifecycle.js';
export {
  type ActorPlacement,
  type LocateEvent,
  LocateEventType,
  type LocateKind,
  type Locator,
  type Uid,
} from './locate/locator.js';
export { MemoryLocator } from './locate/memory-locator.js';
export { consoleLog, type Log, type LogFields, silentLog } from './log/types.js';
export type {
  Connection,
  ConnectionHandler,
  Lane,
  Refusal,
  SendResult,
  Transport,
  TransportStats,
} from './network/transport.js';
// Node apps: the app contract, the node, its router, handlers, middleware and contexts.
export type { Actor, ActorCreator, ActorMessage, ActorTimer, Processor } from './node/actors/actor.js';
export type { NodeApp } from './node/app.js';
export { type BodyCodec, type Decoder, jsonCodec, protoCodec } from './node/body-codec.js';
export { EventContext, type EventName, RequestContext, SessionContext } from './node/context.js';
export type { HookName } from './node/hooks.js';
export { type EventHandler, Node, type NodeCounters, type NodeOptions } from './node/node.js';
export { ClusterProxy, type Kind, type MessageArgs, SessionKind, type TargetArgs } from './node/proxy.js';
export { type Handler, type Middleware, type RouteEntry, type RouteOptions, Router } from './node/router.js';
export {
  type CallOptions,
  type MethodHandler,
  type ServiceCall,
  ServiceError,
  type ServiceReply,
} from './node/services/types.js';
// The client packet format.
export { type DataPacket, type DecodeResult, type HeartbeatPacket, type Packet, PacketCodec } from './packet/codec.js';
export { DEFAULT_PACKET_OPTIONS, type PacketOptions } from './packet/options.js';
export { MemoryRegistry } from './registry/memory-registry.js';
export {
  ClusterEvent,
  type Discovery,
  type Registry,
  RouteFlag,
  type RouteInfo,
  type ServiceInstance,
  type ServiceKind,
  type ServiceState,
} from './registry/registry.js';
export type { CaptureSink } from './replay/capture-sink.js';
// Testing a node app: replay a bus capture into it and diff the ops it produces against the recorded ones.
export type { NodeOp, NodeOpType, NodeReplayDiff } from './replay/node-ops.js';
export {
  formatNodeReplayReport,
  type NodeReplayReport,
  type ReplayNodeOptions,
} from './replay/node-replay.js';
export type { TraceSink, TransitionRecord } from './trace/trace.js';
