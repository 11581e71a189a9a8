import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { initialTransition, type SnapshotFrom, transition } from 'xstate';
import { SESSION_EFFECTS, type SessionMachine, sessionMachine } from '../../actors/session.js';
import type { SessionEvent } from '../../actors/session-types.js';
import { MachineStepper } from '../../src/gate/machine-stepper.js';

/**
 * The stepper's contract with xstate (src/gate/machine-stepper.ts re-creates an actor scope for speed): it must step
 * exactly like xstate's public pure functions. If an xstate upgrade changes what that scope relies on, this fails.
 */

type Snap = SnapshotFrom<SessionMachine>;
const root = new URL('../../', import.meta.url);

const kick = (force: boolean): SessionEvent => ({ type: 'session.kicked', force, code: 4000, reason: 'k' });
const closed = (code: number): SessionEvent => ({ type: 'socket.closed', code, reason: 'gone' });
const SCRIPTS: { resumable: boolean; events: SessionEvent[] }[] = [
  { resumable: false, events: [{ type: 'session.opened' }, { type: 'node.bound', uid: 5 }, kick(false), closed(4000)] },
  {
    resumable: false,
    events: [
      { type: 'session.opened' },
      { type: 'node.bound', uid: 5 },
      { type: 'node.bound', uid: 5 },
      { type: 'node.bound', uid: 6 },
      { type: 'node.unbound' },
      { type: 'authorize.expired' },
    ],
  },
  { resumable: false, events: [{ type: 'heartbeat.expired' }] },
  { resumable: false, events: [kick(true)] },
  {
    resumable: true,
    events: [
      { type: 'session.opened' },
      { type: 'node.bound', uid: 9 },
      closed(1006),
      { type: 'session.resumed' },
      { type: 'heartbeat.expired' },
      { type: 'session.handedOver' },
    ],
  },
  {
    resumable: true,
    events: [{ type: 'session.resumed', uid: 3 }, { type: 'session.displaced', code: 4003, reason: 'd' }, closed(1000)],
  },
  {
    resumable: true,
    events: [{ type: 'session.opened' }, { type: 'node.bound', uid: 2 }, closed(1006), { type: 'suspend.expired' }],
  },
];

function view(s: Snap): unknown {
  return { value: s.value, context: s.context, status: s.status };
}

test('machine stepper - xstate is pinned to one exact version, the one installed', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const pinned = pkg.dependencies.xstate ?? '';
  assert.match(
    pinned,
    /^\d+\.\d+\.\d+$/,
    `xstate must be an exact version (the stepper relies on its internals), got ${pinned}`,
  );
  const installed = JSON.parse(readFileSync(new URL('node_modules/xstate/package.json', root), 'utf8')) as {
    version: string;
  };
  assert.equal(installed.version, pinned);
});

test('machine stepper - steps every scripted lifecycle exactly like xstate’s public transition()', () => {
  const stepper = new MachineStepper();
  for (const script of SCRIPTS) {
    const input = { cid: 4, resumable: script.resumable };
    let mine = stepper.initial(input);
    let theirs = initialTransition(sessionMachine, input)[0];
    assert.deepEqual(view(mine), view(theirs));
    for (const e of script.events) {
      const [m, mActions] = stepper.step(mine, e);
      const [t, tActions] = transition(sessionMachine, theirs, e);
      assert.deepEqual(view(m), view(t), `after ${e.type}`);
      assert.deepEqual(
        mActions.map((a) => ({ type: a.type, params: a.params, uid: (a.info.context as { uid: number }).uid })),
        tActions.map((a) => ({ type: a.type, params: a.params, uid: (a.info.context as { uid: number }).uid })),
        `actions of ${e.type}`,
      );
      // An ignored event leaves the very same snapshot object (Session relies on it to skip work).
      assert.equal(m === mine, t === theirs, `identity after ${e.type}`);
      mine = m;
      theirs = t;
    }
  }
});

test('machine stepper - every action it hands the gate is a declared effect; assign actions never reach it', () => {
  const stepper = new MachineStepper();
  const seen = new Set<string>();
  for (const script of SCRIPTS) {
    let s = stepper.initial({ cid: 1, resumable: script.resumable });
    for (const e of script.events) {
      const [next, actions] = stepper.step(s, e);
      for (const a of actions) seen.add(a.type);
      s = next;
    }
  }
  for (const t of seen) assert.ok(SESSION_EFFECTS.includes(t as never), `${t} is declared`);
  for (const t of ['bindUid', 'unbindUid', 'recordClose']) assert.ok(!seen.has(t), `${t} is xstate's to run`);
  // The scripts cover every effect, so a renamed or dropped one shows up here too.
  assert.deepEqual([...seen].sort(), [...SESSION_EFFECTS].sort());
});
