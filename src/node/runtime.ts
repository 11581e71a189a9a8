import type { Bus } from '../bus/bus.js';
import {
  DEFAULT_ACTOR_IDLE_TIMEOUT_MS,
  DEFAULT_ACTOR_LEASE_TTL_MS,
  DEFAULT_ACTOR_MAILBOX_SIZE,
} from '../config/schema.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import { Actors } from './actors/actors.js';
import type { BodyCodec } from './body-codec.js';
import { Services } from './services/services.js';
import type { CallObserver } from './services/types.js';
import { Tasks } from './tasks.js';

/** The node's programming model that contexts reach through the proxy: actors, services, tasks. */
export interface NodeRuntime {
  readonly actors: Actors;
  readonly services: Services;
  readonly tasks: Tasks;
}

export interface ActorSettings {
  /** Messages an actor's mailbox holds before refusing new ones. Default 1024. */
  mailboxSize?: number;
  /** A cluster actor idle this long is deactivated; 0 = never. Default 5 min. */
  idleMs?: number;
  /** How long a node's placements hold without renewal: a dead host is replaced after this. Default 2 s. */
  leaseTtlMs?: number;
}

export interface RuntimeDeps {
  nodeId: string;
  bus: Bus;
  prefix: string;
  locator: Locator;
  body: BodyCodec;
  log: Log;
  callTimeoutMs: number;
  onCall?: CallObserver;
  actors?: ActorSettings;
}

export function createRuntime(d: RuntimeDeps): NodeRuntime {
  const common = { nodeId: d.nodeId, bus: d.bus, prefix: d.prefix, body: d.body, log: d.log };
  return {
    services: new Services({ ...common, defaultTimeoutMs: d.callTimeoutMs, onCall: d.onCall }),
    tasks: new Tasks(d.log),
    actors: new Actors({
      ...common,
      locator: d.locator,
      mailboxSize: d.actors?.mailboxSize ?? DEFAULT_ACTOR_MAILBOX_SIZE,
      idleMs: d.actors?.idleMs ?? DEFAULT_ACTOR_IDLE_TIMEOUT_MS,
      leaseTtlMs: d.actors?.leaseTtlMs ?? DEFAULT_ACTOR_LEASE_TTL_MS,
      defaultTimeoutMs: d.callTimeoutMs,
    }),
  };
}
