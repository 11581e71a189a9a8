import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createActor, initialTransition, type SnapshotFrom, transition } from 'xstate';
import { CloseCode } from '../../actors/close-codes.js';
import { type SessionMachine, sessionMachine } from '../../actors/session.js';
import type { SessionEvent } from '../../actors/session-types.js';
import { MachineStepper } from '../../src/gate/machine-stepper.js';
import { Session, type SessionEffects } from '../../src/gate/session.js';
import type { Connection, Lane, SendResult } from '../../src/network/transport.js';

/**
 * The session machine as a pure function (docs/contributing.md: transition() without sockets): every transition, the odd
 * ones included, with the named actions the gate would run and the context they would see.
 */

type Snap = SnapshotFrom<SessionMachine>;

interface Ran {
  type: string;
  params: unknown;
  /** context.uid when the action runs (the gate's executors read it, e.g. release needs the old uid). */
  uid: number;
}

function stateOf(s: Snap): string {
  const v = s.value;
  if (typeof v === 'string') return v;
  const [k, sub] = Object.entries(v)[0] as [string, unknown];
  return `${k}.${String(sub)}`;
}

function fresh(cid = 7): Snap {
  const [s, actions] = initialTransition(sessionMachine, { cid });
  assert.deepEqual(actions, [], 'the initial state runs no effects');
  return s;
}

function step(s: Snap, event: SessionEvent): { snap: Snap; ran: Ran[]; types: string[] } {
  const [snap, actions] = transition(sessionMachine, s, event);
  const ran = actions.map((a) => ({
    type: a.type,
    params: a.params,
    uid: (a.info.context as { uid: number }).uid,
  }));
  return { snap, ran, types: ran.map((r) => r.type) };
}

/** Drives a fresh machine through `events`, asserting each one was accepted. */
function reach(events: SessionEvent[], cid = 7): Snap {
  let s = fresh(cid);
  for (const e of events) {
    const next = step(s, e).snap;
    assert.notEqual(next, s, `${e.type} should be accepted in ${stateOf(s)}`);
    s = next;
  }
  return s;
}

const OPENED: SessionEvent = { type: 'session.opened' };
const bound = (uid: number): SessionEvent => ({ type: 'node.bound', uid });
const UNBOUND: SessionEvent = { type: 'node.unbound' };
const kick = (force: boolean, code = 4000, reason = 'kicked'): SessionEvent => ({
  type: 'session.kicked',
  force,
  code,
  reason,
});
const displaced: SessionEvent = { type: 'session.displaced', code: CloseCode.DISPLACED, reason: 'uid bound again' };
const HB_EXPIRED: SessionEvent = { type: 'heartbeat.expired' };
const AUTH_EXPIRED: SessionEvent = { type: 'authorize.expired' };
const socketClosed = (code = 1006, reason = 'gone'): SessionEvent => ({ type: 'socket.closed', code, reason });

const ENDING = ['clearAuthorize', 'release', 'fireDisconnect'];

/** Asserts `event` is ignored: same snapshot object, no actions. */
function assertIgnored(s: Snap, event: SessionEvent): void {
  const r = step(s, event);
  assert.equal(r.snap, s, `${event.type} in ${stateOf(s)} must leave the snapshot untouched`);
  assert.deepEqual(r.types, [], `${event.type} in ${stateOf(s)} must run no action`);
}

const unbound = (): Snap => reach([OPENED]);
const boundTo = (uid: number): Snap => reach([OPENED, bound(uid)]);

describe('session machine - opening', () => {
  test('session machine - starts in handshake with an empty context', () => {
    const s = fresh(12);
    assert.equal(stateOf(s), 'handshake');
    assert.deepEqual(s.context, { cid: 12, uid: 0, closeCode: 0, closeReason: '', resumable: false });
    assert.equal(s.status, 'active');
  });

  test('session machine - session.opened enters active.unbound, fires connect and arms the authorize deadline', () => {
    const r = step(fresh(), OPENED);
    assert.equal(stateOf(r.snap), 'active.unbound');
    assert.deepEqual(r.types, ['fireConnect', 'armAuthorize']);
  });

  test('session machine - handshake ignores binds, unbinds and displacement', () => {
    const s = fresh();
    for (const e of [bound(1), UNBOUND, displaced]) assertIgnored(s, e);
  });

  test('session machine - handshake has deadlines: heartbeat and authorize expiry close it (issue 20)', () => {
    const hb = step(fresh(), HB_EXPIRED);
    assert.equal(stateOf(hb.snap), 'closed');
    assert.deepEqual(hb.types, ['closeGracefully', ...ENDING]);
    assert.equal(hb.snap.context.closeCode, CloseCode.HEARTBEAT_TIMEOUT);
    const auth = step(fresh(), AUTH_EXPIRED);
    assert.equal(stateOf(auth.snap), 'closed');
    assert.deepEqual(auth.types, ['closeGracefully', ...ENDING]);
    assert.equal(auth.snap.context.closeCode, CloseCode.AUTHORIZE_TIMEOUT);
  });

  test('session machine - handshake can be kicked, by force or gracefully', () => {
    const force = step(fresh(), kick(true, 4000, 'stop'));
    assert.equal(stateOf(force.snap), 'closed');
    assert.deepEqual(force.types, ['terminateSocket', ...ENDING]);
    const graceful = step(fresh(), kick(false, 1001, 'going away'));
    assert.equal(stateOf(graceful.snap), 'closing');
    assert.deepEqual(graceful.types, ['closeGracefully']);
    assert.equal(graceful.snap.context.closeCode, 1001);
  });
});

describe('session machine - binding', () => {
  test('session machine - node.bound while unbound binds, clears the authorize deadline, fires reconnect', () => {
    const r = step(unbound(), bound(42));
    assert.equal(stateOf(r.snap), 'active.bound');
    assert.equal(r.snap.context.uid, 42);
    assert.deepEqual(r.types, ['clearAuthorize', 'fireReconnect']);
    assert.equal(r.ran[1]?.uid, 42, 'reconnect fires with the new uid');
  });

  test('session machine - rebinding the same uid is a no-op (due Bind)', () => {
    assertIgnored(boundTo(42), bound(42));
  });

  test('session machine - rebinding another uid releases the old uid first, then fires reconnect for the new one', () => {
    const r = step(boundTo(42), bound(43));
    assert.equal(stateOf(r.snap), 'active.bound');
    assert.equal(r.snap.context.uid, 43);
    assert.deepEqual(r.types, ['release', 'fireReconnect']);
    assert.equal(r.ran[0]?.uid, 42, 'release sees the old uid');
    assert.equal(r.ran[1]?.uid, 43, 'reconnect sees the new uid');
  });

  test('session machine - node.unbound releases the uid and restarts the authorize deadline', () => {
    const r = step(boundTo(42), UNBOUND);
    assert.equal(stateOf(r.snap), 'active.unbound');
    assert.equal(r.snap.context.uid, 0);
    assert.deepEqual(r.types, ['release', 'armAuthorize']);
    assert.equal(r.ran[0]?.uid, 42);
  });

  test('session machine - node.unbound while unbound is ignored', () => {
    assertIgnored(unbound(), UNBOUND);
  });

  test('session machine - session.displaced only applies to a bound session', () => {
    assertIgnored(unbound(), displaced);
  });

  test('session machine - displaced: the uid is dropped and the session closes gracefully with 4003 (due#90)', () => {
    const r = step(boundTo(42), displaced);
    assert.equal(stateOf(r.snap), 'closing');
    assert.equal(r.snap.context.uid, 0, 'the uid belongs to the new session now');
    assert.equal(r.snap.context.closeCode, CloseCode.DISPLACED);
    // the old uid may be released here (it must be, for a cross-gate displacement); if so, with the old uid
    assert.deepEqual(
      r.types.filter((x) => x !== 'release'),
      ['closeGracefully'],
    );
    for (const a of r.ran.filter((x) => x.type === 'release')) assert.equal(a.uid, 42);
    assert.deepEqual(r.ran.find((x) => x.type === 'closeGracefully')?.params, {
      code: CloseCode.DISPLACED,
      reason: 'uid bound again',
    });
  });
});

describe('session machine - deadlines', () => {
  test('session machine - authorize.expired closes an unbound session at once with 4002', () => {
    const r = step(unbound(), AUTH_EXPIRED);
    assert.equal(stateOf(r.snap), 'closed');
    assert.equal(r.snap.status, 'done');
    assert.equal(r.snap.context.closeCode, CloseCode.AUTHORIZE_TIMEOUT);
    assert.equal(r.snap.context.closeReason, 'authorize timeout');
    // A close frame with the code (docs/protocol.md: duet always sends one), not a bare terminate.
    assert.deepEqual(r.types, ['closeGracefully', ...ENDING]);
  });

  test('session machine - authorize.expired is ignored once bound, and in closing', () => {
    assertIgnored(boundTo(5), AUTH_EXPIRED);
    assertIgnored(reach([OPENED, kick(false)]), AUTH_EXPIRED);
  });

  test('session machine - authorize.expired after an unbind closes again (the deadline restarted)', () => {
    const s = reach([OPENED, bound(5), UNBOUND]);
    const r = step(s, AUTH_EXPIRED);
    assert.equal(stateOf(r.snap), 'closed');
    assert.equal(r.snap.context.closeCode, CloseCode.AUTHORIZE_TIMEOUT);
  });

  test('session machine - heartbeat.expired closes unbound and bound sessions with 4001', () => {
    for (const s of [unbound(), boundTo(9)]) {
      const uid = s.context.uid;
      const r = step(s, HB_EXPIRED);
      assert.equal(stateOf(r.snap), 'closed');
      assert.equal(r.snap.context.closeCode, CloseCode.HEARTBEAT_TIMEOUT);
      assert.equal(r.snap.context.closeReason, 'heartbeat timeout');
      assert.deepEqual(r.types, ['closeGracefully', ...ENDING]);
      assert.equal(r.ran.find((a) => a.type === 'fireDisconnect')?.uid, uid, 'disconnect carries the uid');
    }
  });

  test('session machine - heartbeat.expired while closing gracefully terminates without changing the close code', () => {
    const s = reach([OPENED, kick(false, 4000, 'bye')]);
    const r = step(s, HB_EXPIRED);
    assert.equal(stateOf(r.snap), 'closed');
    assert.deepEqual(r.types, ['terminateSocket', ...ENDING]);
    assert.equal(r.snap.context.closeCode, 4000);
  });

  test('session machine - heartbeat.expired is ignored after close', () => {
    assertIgnored(reach([OPENED, socketClosed()]), HB_EXPIRED);
  });
});

describe('session machine - kicks and closes', () => {
  test('session machine - force kick terminates at once, from unbound and from bound', () => {
    for (const s of [unbound(), boundTo(3)]) {
      const r = step(s, kick(true, 4000, 'go'));
      assert.equal(stateOf(r.snap), 'closed');
      assert.deepEqual(r.types, ['terminateSocket', ...ENDING]);
      assert.equal(r.snap.context.closeCode, 4000);
      assert.equal(r.snap.context.closeReason, 'go');
    }
  });

  test('session machine - graceful kick while unbound goes to closing and asks for a flush + close frame', () => {
    const r = step(unbound(), kick(false, 4000, 'later'));
    assert.equal(stateOf(r.snap), 'closing');
    assert.deepEqual(r.types, ['closeGracefully']);
    assert.deepEqual(r.ran[0]?.params, { code: 4000, reason: 'later' });
    assert.equal(r.snap.context.closeCode, 4000);
  });

  test('session machine - graceful kick while bound keeps the uid until the socket ends', () => {
    const closing = step(boundTo(8), kick(false));
    assert.equal(stateOf(closing.snap), 'closing');
    assert.equal(closing.snap.context.uid, 8);
    const closed = step(closing.snap, socketClosed(4000, 'kicked'));
    assert.deepEqual(closed.types, ENDING);
    assert.equal(closed.ran.find((a) => a.type === 'release')?.uid, 8, 'release sees the uid to unbind');
  });

  test('session machine - a second graceful close while closing is ignored (double close)', () => {
    assertIgnored(reach([OPENED, kick(false)]), kick(false, 1001, 'again'));
  });

  test('session machine - a force kick while closing gracefully terminates and ends the session', () => {
    const r = step(reach([OPENED, kick(false, 4000, 'first')]), kick(true, 4000, 'second'));
    assert.equal(stateOf(r.snap), 'closed');
    assert.deepEqual(r.types, ['terminateSocket', ...ENDING]);
    assert.equal(r.snap.context.closeReason, 'first', 'the close already under way keeps its reason');
  });

  test('session machine - bind, unbind and displacement during closing are ignored', () => {
    const closing = reach([OPENED, bound(4), kick(false)]);
    for (const e of [bound(4), bound(5), UNBOUND, displaced]) assertIgnored(closing, e);
  });

  test('session machine - socket.closed ends the session from every live state, firing disconnect once', () => {
    const states: [string, Snap][] = [
      ['handshake', fresh()],
      ['active.unbound', unbound()],
      ['active.bound', boundTo(77)],
      ['closing', reach([OPENED, bound(77), kick(false)])],
    ];
    for (const [name, s] of states) {
      assert.equal(stateOf(s), name);
      const r = step(s, socketClosed(1006, 'reset'));
      assert.equal(stateOf(r.snap), 'closed', `from ${name}`);
      assert.equal(r.snap.status, 'done');
      assert.deepEqual(r.types, ENDING, `from ${name}`);
      assert.equal(r.types.filter((t) => t === 'fireDisconnect').length, 1);
      assert.equal(r.snap.context.closeCode, 1006);
      assert.equal(r.snap.context.closeReason, 'reset');
      assert.equal(r.ran[2]?.uid, s.context.uid, `disconnect from ${name} carries the uid`);
    }
  });

  test('session machine - nothing but socket.closed changes a closed session', () => {
    const closed = reach([OPENED, bound(1), socketClosed()]);
    for (const e of [OPENED, bound(2), UNBOUND, kick(true), kick(false), displaced, HB_EXPIRED, AUTH_EXPIRED])
      assertIgnored(closed, e);
  });
});

describe('session machine - as an actor', () => {
  test('session machine - createActor: inspection sees each state once; events after the final state do nothing', () => {
    const ran: string[] = [];
    const seen: string[] = [];
    const record = (name: string) => () => {
      ran.push(name);
    };
    const machine = sessionMachine.provide({
      actions: {
        fireConnect: record('fireConnect'),
        fireReconnect: record('fireReconnect'),
        fireDisconnect: record('fireDisconnect'),
        armAuthorize: record('armAuthorize'),
        clearAuthorize: record('clearAuthorize'),
        closeGracefully: record('closeGracefully'),
        terminateSocket: record('terminateSocket'),
        release: record('release'),
      },
    });
    const actor = createActor(machine, {
      input: { cid: 3 },
      inspect: (e) => {
        if (e.type === '@xstate.snapshot') seen.push(stateOf(e.snapshot as Snap));
      },
    });
    actor.start();
    actor.send(OPENED);
    actor.send(bound(11));
    actor.send(kick(false, 4000, 'bye'));
    actor.send(socketClosed(4000, 'bye'));
    actor.send(socketClosed(1006, 'late'));
    actor.send(HB_EXPIRED);
    assert.deepEqual(seen, ['handshake', 'active.unbound', 'active.bound', 'closing', 'closed']);
    assert.deepEqual(ran, [
      'fireConnect',
      'armAuthorize',
      'clearAuthorize',
      'fireReconnect',
      'closeGracefully',
      'clearAuthorize',
      'release',
      'fireDisconnect',
    ]);
    const end = actor.getSnapshot();
    assert.equal(end.status, 'done');
    assert.equal(end.context.closeCode, 4000);
    assert.equal(end.context.closeReason, 'bye');
    actor.stop();
  });
});

/** A Connection that records what the gate's effects did to it. */
class FakeConnection implements Connection {
  readonly cid: number;
  readonly remote = '127.0.0.1';
  readonly bufferedBytes = 0;
  readonly bytesIn = 0;
  readonly bytesOut = 0;
  sent: Uint8Array[] = [];
  closes: { code: number; reason: string | undefined }[] = [];
  terminated = 0;
  constructor(cid: number) {
    this.cid = cid;
  }
  send(frame: Uint8Array, _lane?: Lane): SendResult {
    this.sent.push(frame);
    return 'sent';
  }
  close(code: number, reason?: string): Promise<void> {
    this.closes.push({ code, reason });
    return Promise.resolve();
  }
  terminate(): void {
    this.terminated++;
  }
  pauseReading(): void {}
  resumeReading(): void {}
}

describe('session machine - the gate session actor (src/gate/session.ts)', () => {
  function recorder(onAction?: (s: Session, type: string) => void) {
    const actions: string[] = [];
    const transitions: string[] = [];
    const effects: SessionEffects = {
      stepper: new MachineStepper(),
      run(s, action) {
        actions.push(action.type);
        onAction?.(s, action.type);
      },
      transitioned(_s, from, to, event) {
        transitions.push(`${from}->${to}:${event.type}`);
      },
    };
    return { actions, transitions, effects };
  }

  test('session - caches isActive/isClosed/uid and reports each transition once', () => {
    const r = recorder();
    const s = new Session(new FakeConnection(9), r.effects, 1000);
    assert.equal(s.state, 'handshake');
    assert.equal(s.isActive, false);
    s.send(OPENED);
    assert.equal(s.isActive, true);
    s.send(bound(5));
    assert.equal(s.uid, 5);
    s.send(bound(5));
    s.send(kick(false, 4000, 'bye'));
    assert.equal(s.isActive, false, 'closing is not active: data frames stop at once');
    assert.equal(s.isClosed, false);
    s.send(socketClosed(4000, 'bye'));
    assert.equal(s.isClosed, true);
    s.send(socketClosed(1006, 'late'));
    s.send(HB_EXPIRED);
    assert.deepEqual(r.transitions, [
      'handshake->active.unbound:session.opened',
      'active.unbound->active.bound:node.bound',
      'active.bound->closing:session.kicked',
      'closing->closed:socket.closed',
    ]);
    assert.equal(r.actions.filter((a) => a === 'fireDisconnect').length, 1, 'disconnect fires exactly once');
    assert.equal(s.closeCode, 4000);
  });

  test('session - an event sent from inside an action runs after the current transition (ordered mailbox)', () => {
    const order: string[] = [];
    const r = recorder((s, type) => {
      order.push(`${s.state}:${type}`);
      // terminating a socket makes the transport report socket.closed synchronously in some paths
      if (type === 'closeGracefully') s.send(socketClosed(4000, 'flushed'));
    });
    const s = new Session(new FakeConnection(1), r.effects, 0);
    s.send(OPENED);
    s.send(kick(false, 4000, 'bye'));
    assert.deepEqual(order.slice(-4), [
      'closing:closeGracefully',
      'closed:clearAuthorize',
      'closed:release',
      'closed:fireDisconnect',
    ]);
    assert.deepEqual(r.transitions.slice(-2), [
      'active.unbound->closing:session.kicked',
      'closing->closed:socket.closed',
    ]);
  });
});
