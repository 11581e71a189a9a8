import { AdminResponder, processFacts } from '../admin/responder.js';
import type { Bus } from '../bus/bus.js';
import type { Log } from '../log/types.js';
import type { Node } from './node.js';

export interface NodeAdminOptions {
  bus: Bus;
  prefix?: string;
  node: Node;
  version: string;
  log?: Log;
}

/**
 * A node's answers to the admin CLI: status (its routes, the user bindings it holds) and drain (registers as hang:
 * gates send it no new stateless traffic; users bound to it go on). Sessions live on gates, so locate, sessions
 * and kick are the gates' to answer.
 */
export function nodeAdminResponder(o: NodeAdminOptions): AdminResponder {
  const n = o.node;
  const startedAt = Date.now();
  let hung = false;
  return new AdminResponder({
    bus: o.bus,
    prefix: o.prefix,
    id: n.id,
    log: o.log,
    handle: async (cmd) => {
      switch (cmd) {
        case 'status':
          return {
            kind: 'node',
            name: n.name,
            state: hung ? 'hang' : n.state === 'running' ? 'work' : n.state,
            ...processFacts(startedAt, o.version),
            sessions: n.held.size,
            routes: n.router.routes().map((r) => r.id),
            delivered: n.counters.delivered,
          };
        case 'drain':
          await n.setState('hang');
          hung = true;
          o.log?.info('drained by admin: hang');
          return { kind: 'node', state: 'hang' };
        case 'locate':
        case 'kick':
          return undefined;
        case 'sessions':
          return { error: `${n.id} is a node; sessions live on gates` };
        default:
          return { error: `unknown admin command ${cmd}` };
      }
    },
  });
}
