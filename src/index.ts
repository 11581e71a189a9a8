/** duet's public surface. */

export type { Bus, BusMessage, Subscription } from './bus/bus.js';
export { MemoryBus } from './bus/memory-bus.js';
export { createAdapters, createGate, createNode, createTransport, packetCodec } from './compose.js';
export type { NodeApp } from './demo/app.js';
export * from './errors.js';
export { Gate, type GateOptions } from './gate/gate.js';
export type { LocateEvent, Locator, Uid } from './locate/locator.js';
export { MemoryLocator } from './locate/memory-locator.js';
export type { Connection, Transport } from './network/transport.js';
export { EventContext, RequestContext } from './node/context.js';
export { type EventHandler, Node, type NodeOptions } from './node/node.js';
export { ClusterProxy, SessionKind } from './node/proxy.js';
export { type DataPacket, type DecodeResult, type HeartbeatPacket, type Packet, PacketCodec } from './packet/codec.js';
export { DEFAULT_PACKET_OPTIONS, type PacketOptions } from './packet/options.js';
export { MemoryRegistry } from './registry/memory-registry.js';
export type { Discovery, Registry, RouteInfo, ServiceInstance } from './registry/registry.js';
