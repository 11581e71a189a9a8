import { assign, setup } from 'xstate';
import type { CloseParams, SessionContext, SessionEvent, SessionInput } from './session-types.js';

/** Close codes the machine assigns (mirrors CloseCode in src/errors.ts; actors/ imports only xstate). */
export const SESSION_CLOSE = {
  NORMAL: 1000,
  ABNORMAL: 1006,
  KICKED: 4000,
  HEARTBEAT_TIMEOUT: 4001,
  AUTHORIZE_TIMEOUT: 4002,
  DISPLACED: 4003,
} as const;

const noop = (): void => {};

/**
 * The lifecycle of one client connection: handshake → active.unbound ⇄ active.bound → closing → closed.
 * Effects are declared by name only; the gate implements them once (src/gate/session-effects.ts) and runs the
 * actions that xstate's pure transition() returns. Data frames never enter the machine (hot path).
 */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actions: {
    /** Fire the connect event to nodes that registered it. */
    fireConnect: noop,
    /** Fire the reconnect event (due: on every successful bind). */
    fireReconnect: noop,
    /** Fire the disconnect event, once, as the session ends. */
    fireDisconnect: noop,
    /** Start (or restart, after an unbind) the authorize deadline. */
    armAuthorize: noop,
    clearAuthorize: noop,
    /** Flush queued writes, then send a WebSocket close frame. */
    closeGracefully: (_, _params: CloseParams) => {},
    /** Destroy the socket now. */
    terminateSocket: noop,
    /** Drop the session from the gate's tables and release its uid (locator compare-and-delete). */
    release: noop,
    bindUid: assign({ uid: ({ event }) => (event.type === 'node.bound' ? event.uid : 0) }),
    unbindUid: assign({ uid: 0 }),
    recordClose: assign((_, params: CloseParams) => ({ closeCode: params.code, closeReason: params.reason })),
  },
  guards: {
    isSameUid: ({ context, event }) => event.type === 'node.bound' && event.uid === context.uid,
    isForce: ({ event }) => event.type === 'session.kicked' && event.force,
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({ cid: input.cid, uid: 0, closeCode: 0, closeReason: '' }),
  initial: 'handshake',
  on: {
    'socket.closed': {
      target: '.closed',
      actions: { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
    },
  },
  states: {
    handshake: {
      on: { 'session.opened': { target: 'active', actions: ['fireConnect', 'armAuthorize'] } },
    },
    active: {
      initial: 'unbound',
      on: {
        'heartbeat.expired': {
          target: 'closed',
          actions: [
            { type: 'recordClose', params: { code: SESSION_CLOSE.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' } },
            'terminateSocket',
          ],
        },
        'session.kicked': [
          {
            guard: 'isForce',
            target: 'closed',
            actions: [
              { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
              'terminateSocket',
            ],
          },
          {
            target: 'closing',
            actions: [
              { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
              { type: 'closeGracefully', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
            ],
          },
        ],
      },
      states: {
        unbound: {
          on: {
            'node.bound': { target: 'bound', actions: ['bindUid', 'clearAuthorize', 'fireReconnect'] },
            'authorize.expired': {
              target: '#session.closed',
              actions: [
                { type: 'recordClose', params: { code: SESSION_CLOSE.AUTHORIZE_TIMEOUT, reason: 'authorize timeout' } },
                'terminateSocket',
              ],
            },
          },
        },
        bound: {
          on: {
            'node.bound': [
              { guard: 'isSameUid' },
              { target: 'bound', reenter: true, actions: ['release', 'bindUid', 'fireReconnect'] },
            ],
            'node.unbound': { target: 'unbound', actions: ['release', 'unbindUid', 'armAuthorize'] },
            'session.displaced': {
              target: '#session.closing',
              actions: [
                'unbindUid',
                { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
                { type: 'closeGracefully', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
              ],
            },
          },
        },
      },
    },
    closing: {
      on: {
        'session.kicked': {
          guard: 'isForce',
          target: 'closed',
          actions: 'terminateSocket',
        },
        'heartbeat.expired': { target: 'closed', actions: 'terminateSocket' },
      },
    },
    closed: {
      type: 'final',
      entry: ['clearAuthorize', 'release', 'fireDisconnect'],
    },
  },
});

export type SessionMachine = typeof sessionMachine;
