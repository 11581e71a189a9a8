import type { CloseParams, SessionEvent } from '../../actors/session-types.js';
import type { ErrorReporter } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import type { Connection } from '../network/transport.js';
import { ClusterEvent } from '../registry/registry.js';
import type { TraceSink } from '../trace/trace.js';
import type { Dispatcher } from './dispatcher.js';
import { MachineStepper } from './machine-stepper.js';
import type { ResumeService } from './resume.js';
import type { Session, SessionEffects } from './session.js';
import type { SessionTable } from './sessions.js';

export interface EffectsDeps {
  gid: string;
  sessions: SessionTable;
  locator: Locator;
  dispatcher: Dispatcher;
  trace: TraceSink;
  authorizeTimeoutMs: number;
  reportError: ErrorReporter;
  now(): number;
  /** Told when a session has ended (after its disconnect event), e.g. to finish a graceful drain. */
  onClosed(s: Session): void;
  resume: ResumeService;
}

/** What a suspended session holds instead of its lost connection. */
function detached(c: Connection): Connection {
  const { cid, remote } = c;
  return {
    cid,
    remote,
    send: () => 'closed',
    close: async () => {},
    terminate: () => {},
    bufferedBytes: 0,
  };
}

/** The session machine's named actions, implemented once per gate (STYLE.md 5). */
export function createSessionEffects(d: EffectsDeps): SessionEffects {
  return {
    stepper: new MachineStepper(),
    run(s: Session, action: { type: string; params: unknown }, context: { uid: number }, event: SessionEvent) {
      switch (action.type) {
        case 'fireConnect':
          d.dispatcher.trigger(ClusterEvent.CONNECT, s.cid, 0);
          return;
        case 'fireReconnect':
          d.dispatcher.trigger(ClusterEvent.RECONNECT, s.cid, context.uid);
          d.resume.offer(s);
          return;
        case 'fireResume':
          d.dispatcher.trigger(ClusterEvent.RESUME, s.cid, context.uid);
          d.resume.offer(s);
          return;
        case 'armSuspend':
          s.suspendDeadlineMs = d.now() + d.resume.o.windowMs;
          d.sessions.detachConn(s.conn.cid, s);
          // Let the dead socket's objects go: a suspended session holds only its ring until it resumes.
          s.conn = detached(s.conn);
          return;
        case 'forget':
          if (s.uid !== 0 && d.sessions.unindexUid(s.uid, s)) d.dispatcher.forget(s.uid);
          d.sessions.remove(s);
          d.onClosed(s);
          return;
        case 'fireDisconnect':
          d.dispatcher.trigger(ClusterEvent.DISCONNECT, s.cid, context.uid);
          d.onClosed(s);
          return;
        case 'armAuthorize':
          // The deadline runs from the connection's open (armed then, handshake included), not from its first frame.
          if (event.type === 'session.opened' && s.authorizeDeadlineMs !== 0) return;
          s.authorizeDeadlineMs = d.authorizeTimeoutMs > 0 ? d.now() + d.authorizeTimeoutMs : 0;
          return;
        case 'clearAuthorize':
          s.authorizeDeadlineMs = 0;
          return;
        case 'closeGracefully': {
          const p = action.params as CloseParams;
          s.conn.close(p.code, p.reason).catch((err: unknown) => d.reportError(err, 'graceful close'));
          return;
        }
        case 'terminateSocket':
          s.conn.terminate();
          return;
        case 'release': {
          const uid = context.uid;
          if (uid !== 0 && d.sessions.unindexUid(uid, s)) {
            d.dispatcher.forget(uid);
            d.locator.unbindGate(uid, d.gid).catch((err: unknown) => d.reportError(err, 'locator unbindGate'));
          }
          if (s.isClosed) d.sessions.remove(s);
          return;
        }
        default:
          d.reportError(new Error(`unknown session action ${action.type}`), 'session effects');
      }
    },
    transitioned(s: Session, from: string, to: string, event: SessionEvent) {
      if (!d.trace.enabled) return;
      // Expiry events carry no reason of their own: the one the machine recorded for the close says why.
      const reason = 'reason' in event ? event.reason : to === 'closed' ? s.closeReason : '';
      d.trace.record({ ts: Date.now(), gate: d.gid, cid: s.cid, uid: s.uid, from, to, event: event.type, reason });
    },
  };
}
