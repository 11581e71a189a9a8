import type { SnapshotFrom } from 'xstate';
import { type ActorScope, type AnyActorScope, createActor, type EventObject } from 'xstate';
import { SESSION_EFFECTS, type SessionMachine, sessionMachine } from '../../actors/session.js';
import type { SessionEffectName, SessionEvent, SessionInput } from '../../actors/session-types.js';
import { DuetError, ErrorCode } from '../errors.js';

type Snapshot = SnapshotFrom<SessionMachine>;

/** One effect the machine asked for, by its declared name. */
export interface StepAction {
  type: SessionEffectName;
  params: unknown;
  info: { context: unknown };
}

const EFFECTS: ReadonlySet<string> = new Set(SESSION_EFFECTS);

/**
 * Advances session snapshots with the machine's pure transition, like xstate's `transition()`, but with one inert
 * actor scope per gate instead of one per call: `transition()` builds a throw-away actor and two actor systems on
 * every event (test/bench/actor-micro.ts measured 87 µs against 9 µs per lifecycle event, 9.7x), which a connect
 * storm would feel. Actions are collected, never executed here.
 *
 * This is the only file that knows xstate's internals. What it relies on: `machine.getInitialSnapshot(scope,
 * input)` and `machine.transition(snapshot, event, scope)` exist and take a scope of this shape, and every
 * non-builtin action reaches `scope.actionExecutor` as `{ type, params, info: { context } }`. xstate is pinned to an
 * exact version in package.json, and test/unit/machine-stepper.test.ts fails if any of this changes (it steps the
 * same events through here and through the public `transition()` and compares states, contexts and actions).
 */
export class MachineStepper {
  readonly #scope: AnyActorScope;
  #collected: StepAction[] = [];

  constructor() {
    const self = createActor(sessionMachine, { input: { cid: 0 } });
    const scope: ActorScope<Snapshot, SessionEvent> = {
      self: self as never,
      id: '',
      sessionId: '',
      logger: () => {},
      defer: () => {},
      system: self.system,
      stopChild: () => {},
      emit: () => {},
      actionExecutor: (action) => {
        const a = action as unknown as { type: string; params: unknown; info: { context: unknown } };
        if (!EFFECTS.has(a.type)) {
          throw new DuetError(
            ErrorCode.INTERNAL,
            `xstate ran action ${a.type}, which the session machine does not declare`,
          );
        }
        this.#collected.push(a as StepAction);
      },
    };
    this.#scope = scope as unknown as AnyActorScope;
  }

  initial(input: SessionInput): Snapshot {
    this.#collected = [];
    return sessionMachine.getInitialSnapshot(this.#scope, input);
  }

  step(snapshot: Snapshot, event: SessionEvent): [Snapshot, StepAction[]] {
    this.#collected = [];
    const next = sessionMachine.transition(snapshot, event as EventObject as SessionEvent, this.#scope);
    return [next, this.#collected];
  }
}
