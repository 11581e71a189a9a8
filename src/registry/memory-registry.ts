import { ClosedError } from '../errors.js';
import { Watchers } from '../watchers.js';
import type { Registry, ServiceInstance, ServiceKind } from './registry.js';

function clone(i: ServiceInstance): ServiceInstance {
  return {
    ...i,
    routes: i.routes.map((r) => ({ ...r })),
    events: [...i.events],
    metadata: { ...i.metadata },
  };
}

/** In-process registry: every registered instance is passing; watchers get the full list after each change. */
export class MemoryRegistry implements Registry {
  readonly #instances = new Map<string, ServiceInstance>();
  readonly #watch = { gate: new Watchers<ServiceInstance[]>(), node: new Watchers<ServiceInstance[]>() };
  #closed = false;

  async register(instance: ServiceInstance): Promise<void> {
    if (this.#closed) throw new ClosedError('registry is closed');
    this.#instances.set(`${instance.kind}-${instance.id}`, clone(instance));
    this.#changed(instance.kind);
  }

  async deregister(instance: ServiceInstance): Promise<void> {
    if (this.#closed) return;
    if (this.#instances.delete(`${instance.kind}-${instance.id}`)) this.#changed(instance.kind);
  }

  async services(kind: ServiceKind): Promise<ServiceInstance[]> {
    if (this.#closed) throw new ClosedError('registry is closed');
    return this.#list(kind);
  }

  watch(kind: ServiceKind, signal: AbortSignal): AsyncIterable<ServiceInstance[]> {
    // After dispose: a stream that ends at once.
    if (this.#closed) return this.#watch[kind].add(AbortSignal.abort());
    return this.#watch[kind].add(signal, this.#list(kind));
  }

  #list(kind: ServiceKind): ServiceInstance[] {
    return [...this.#instances.values()].filter((i) => i.kind === kind).map(clone);
  }

  #changed(kind: ServiceKind): void {
    this.#watch[kind].emit(this.#list(kind));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    this.#watch.gate.endAll();
    this.#watch.node.endAll();
  }
}
