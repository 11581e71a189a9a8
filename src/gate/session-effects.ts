import type { SessionEffectName, SessionEffectParams, SessionEvent } from '../../actors/session-types.js';
import type { ErrorReporter } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import { ClusterEvent } from '../registry/registry.js';
import type { TraceSink } from '../trace/trace.js';
import type { Dispatcher } from './dispatcher.js';
import type { GateHooks } from './hooks.js';
import { MachineStepper, type StepAction } from './machine-stepper.js';
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
  /** Where features (resume) plug in: bound (a token), suspended (the window). */
  hooks: GateHooks;
}

/** One implementation per effect the machine declares, by its action name (a missing one does not compile). */
export type SessionEffectHandlers = {
  [K in SessionEffectName]: (
    s: Session,
    params: SessionEffectParams[K],
    context: { uid: number },
    event: SessionEvent,
  ) => void;
};

/** Runs a stepped action through its handler (the one place the name → params correlation is asserted). */
export function runEffect(
  h: SessionEffectHandlers,
  s: Session,
  a: StepAction,
  context: { uid: number },
  event: SessionEvent,
): void {
  const fn = h[a.type] as (s: Session, params: unknown, context: { uid: number }, event: SessionEvent) => void;
  fn(s, a.params, context, event);
}

/** The session machine's effects, implemented once per gate (not per connection). */
export function sessionEffectHandlers(d: EffectsDeps): SessionEffectHandlers {
  return {
    fireConnect: (s) => d.dispatcher.trigger(ClusterEvent.CONNECT, s.cid, 0),
    fireReconnect: (s, _p, context) => {
      d.dispatcher.trigger(ClusterEvent.RECONNECT, s.cid, context.uid);
      d.hooks.bound(s);
    },
    fireResume: (s, _p, context) => {
      d.dispatcher.trigger(ClusterEvent.RESUME, s.cid, context.uid);
      d.hooks.bound(s);
    },
    armSuspend: (s) => d.hooks.suspended(s),
    forget: (s) => {
      if (s.uid !== 0 && d.sessions.unindexUid(s.uid, s)) d.dispatcher.forget(s.uid);
      d.sessions.remove(s);
      d.onClosed(s);
    },
    fireDisconnect: (s, _p, context) => {
      d.dispatcher.trigger(ClusterEvent.DISCONNECT, s.cid, context.uid);
      d.onClosed(s);
    },
    armAuthorize: (s, _p, _c, event) => {
      // The deadline runs from the connection's open (armed then, handshake included), not from its first frame.
      if (event.type === 'session.opened' && s.authorizeDeadlineMs !== 0) return;
      s.authorizeDeadlineMs = d.authorizeTimeoutMs > 0 ? d.now() + d.authorizeTimeoutMs : 0;
    },
    clearAuthorize: (s) => {
      s.authorizeDeadlineMs = 0;
    },
    closeGracefully: (s, p) => {
      s.conn.close(p.code, p.reason).catch((err: unknown) => d.reportError(err, 'graceful close'));
    },
    terminateSocket: (s) => s.conn.terminate(),
    release: (s, _p, context) => {
      const uid = context.uid;
      if (uid !== 0 && d.sessions.unindexUid(uid, s)) {
        d.dispatcher.forget(uid);
        d.locator.unbindGate(uid, d.gid).catch((err: unknown) => d.reportError(err, 'locator unbindGate'));
      }
      if (s.isClosed) d.sessions.remove(s);
    },
  };
}

export function createSessionEffects(d: EffectsDeps): SessionEffects {
  const handlers = sessionEffectHandlers(d);
  return {
    stepper: new MachineStepper(),
    run: (s, a, context, event) => runEffect(handlers, s, a, context, event),
    transitioned(s: Session, from: string, to: string, event: SessionEvent) {
      if (!d.trace.enabled) return;
      // Expiry events carry no reason of their own: the one the machine recorded for the close says why.
      const reason = 'reason' in event ? event.reason : to === 'closed' ? s.closeReason : '';
      d.trace.record({ ts: Date.now(), gate: d.gid, cid: s.cid, uid: s.uid, from, to, event: event.type, reason });
    },
  };
}
