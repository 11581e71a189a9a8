import { AdminResponder, processFacts } from '../admin/responder.js';
import type { Bus } from '../bus/bus.js';
import { CloseCode } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import type { Log } from '../log/types.js';
import type { Transport } from '../network/transport.js';
import type { Registry } from '../registry/registry.js';
import type { Gate } from './gate.js';

export interface GateAdminOptions {
  bus: Bus;
  prefix?: string;
  gate: Gate;
  locator: Locator;
  /** Re-registers the gate as hang and refuses new connections on `duet drain`. */
  registry: Registry;
  transport: Transport;
  version: string;
  log?: Log;
}

/** The most sessions one `duet sessions` answer lists (a bus message stays small); `total` says how many there are. */
const MAX_LISTED = 1000;

/**
 * A gate's answers to the admin CLI: status, locate (only the gate holding the uid answers), sessions, kick (only
 * the gate holding it), drain (goes to hang: no new connections, its sessions go on).
 */
export function gateAdminResponder(o: GateAdminOptions): AdminResponder {
  const g = o.gate;
  const startedAt = Date.now();
  let hung = false;
  return new AdminResponder({
    bus: o.bus,
    prefix: o.prefix,
    id: g.id,
    log: o.log,
    handle: async (cmd, q) => {
      switch (cmd) {
        case 'status':
          return {
            kind: 'gate',
            name: g.name,
            state: hung ? 'hang' : g.state === 'running' ? 'work' : g.state,
            ...processFacts(startedAt, o.version),
            sessions: g.sessions.size,
            bound: g.sessions.boundCount,
            routes: [],
            framesIn: g.counters.framesIn,
            framesOut: g.counters.framesOut,
          };
        case 'locate': {
          const s = g.sessions.byUid(Number(q.uid));
          if (!s) return undefined;
          return { kind: 'gate', uid: s.uid, gate: g.id, cids: [s.cid], nodes: await o.locator.locateNodes(s.uid) };
        }
        case 'sessions': {
          const now = Date.now();
          const all = [...g.sessions.all()];
          return {
            kind: 'gate',
            total: all.length,
            sessions: all.slice(0, MAX_LISTED).map((s) => ({
              cid: s.cid,
              uid: s.uid,
              state: s.state,
              remote: s.conn.remote,
              ageMs: now - s.openedAtMs,
              bytesIn: s.conn.bytesIn,
              bytesOut: s.conn.bytesOut,
            })),
          };
        }
        case 'kick': {
          const s = g.sessions.byUid(Number(q.uid));
          if (!s) return undefined;
          const force = q.force === true;
          s.send({ type: 'session.kicked', force, code: CloseCode.KICKED, reason: 'kicked by admin' });
          o.log?.info('session kicked by admin', { uid: s.uid, cid: s.cid, force });
          return { kind: 'gate', uid: s.uid, cid: s.cid, kicked: true, force };
        }
        case 'drain':
          hung = true;
          o.transport.refuseNew();
          await o.registry.register(g.instance('hang'));
          o.log?.info('drained by admin: hang');
          return { kind: 'gate', state: 'hang' };
        default:
          return { error: `unknown admin command ${cmd}` };
      }
    },
  });
}
