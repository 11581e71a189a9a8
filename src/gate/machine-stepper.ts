import type { SnapshotFrom } from 'xstate';
import { type ActorScope, type AnyActorScope, createActor, type EventObject } from 'xstate';
import { type SessionMachine, sessionMachine } from '../../actors/session.js';
import type { SessionEvent, SessionInput } from '../../actors/session-types.js';

type Snapshot = SnapshotFrom<SessionMachine>;
export interface StepAction {
  type: string;
  params: unknown;
  info: { context: unknown };
}

/**
 * Advances session snapshots with the machine's pure transition, like xstate's `transition()`, but with one inert
 * actor scope per gate instead of one per call: `transition()` builds a throw-away actor and two actor systems on
 * every event (~60 µs), which a connect storm would feel. Actions are collected, never executed here.
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
        this.#collected.push(action as unknown as StepAction);
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
