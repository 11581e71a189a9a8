import { assign, setup } from 'xstate';
import { CloseCode } from './close-codes.js';
import type {
  CloseParams,
  SessionContext,
  SessionEffectName,
  SessionEffectParams,
  SessionEvent,
  SessionInput,
} from './session-types.js';

/** The effects, declared by name only: the gate implements each (SessionEffectParams lists them with their params). */
const declared: { [K in SessionEffectName]: (_: unknown, params: SessionEffectParams[K]) => void } = {
  fireConnect: () => {},
  fireReconnect: () => {},
  fireDisconnect: () => {},
  fireResume: () => {},
  armSuspend: () => {},
  forget: () => {},
  armAuthorize: () => {},
  clearAuthorize: () => {},
  closeGracefully: () => {},
  terminateSocket: () => {},
  release: () => {},
};

/** Every effect name, as a value (the stepper checks what xstate hands it against these). */
export const SESSION_EFFECTS = Object.keys(declared) as readonly SessionEffectName[];

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
    ...declared,
    bindUid: assign({
      uid: ({ context, event }) =>
        event.type === 'node.bound'
          ? event.uid
          : event.type === 'session.resumed'
            ? (event.uid ?? context.uid)
            : context.uid,
    }),
    unbindUid: assign({ uid: 0 }),
    recordClose: assign((_, params: CloseParams) => ({ closeCode: params.code, closeReason: params.reason })),
  },
  guards: {
    isSameUid: ({ context, event }) => event.type === 'node.bound' && event.uid === context.uid,
    isForce: ({ event }) => event.type === 'session.kicked' && event.force,
    /** Lost without a close frame (1006) on a gate with resume on: keep the session for the window. */
    isResumableLoss: ({ context, event }) =>
      context.resumable &&
      (event.type === 'heartbeat.expired' || (event.type === 'socket.closed' && event.code === CloseCode.ABNORMAL)),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    cid: input.cid,
    uid: 0,
    closeCode: 0,
    closeReason: '',
    resumable: input.resumable ?? false,
  }),
  initial: 'handshake',
  states: {
    handshake: {
      on: {
        'socket.closed': {
          target: '#session.closed',
          actions: { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
        },
        'session.opened': { target: 'active', actions: ['fireConnect', 'armAuthorize'] },
        // Took a session over from another gate: bound from the start, and nodes hear resume, not connect.
        'session.resumed': { target: 'active.bound', actions: ['bindUid', 'clearAuthorize', 'fireResume'] },
        // Every state has a deadline: a connection that never sends its first frame (resume on waits for it here)
        // is closed by the same heartbeat and authorize sweeps as an active one, and can be kicked.
        'heartbeat.expired': {
          target: 'closed',
          actions: [
            { type: 'recordClose', params: { code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' } },
            { type: 'closeGracefully', params: { code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' } },
          ],
        },
        'authorize.expired': {
          target: 'closed',
          actions: [
            { type: 'recordClose', params: { code: CloseCode.AUTHORIZE_TIMEOUT, reason: 'authorize timeout' } },
            { type: 'closeGracefully', params: { code: CloseCode.AUTHORIZE_TIMEOUT, reason: 'authorize timeout' } },
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
    },
    active: {
      initial: 'unbound',
      on: {
        'socket.closed': {
          target: '#session.closed',
          actions: { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
        },
        'heartbeat.expired': {
          target: 'closed',
          actions: [
            { type: 'recordClose', params: { code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' } },
            { type: 'closeGracefully', params: { code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' } },
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
                { type: 'recordClose', params: { code: CloseCode.AUTHORIZE_TIMEOUT, reason: 'authorize timeout' } },
                {
                  type: 'closeGracefully',
                  params: { code: CloseCode.AUTHORIZE_TIMEOUT, reason: 'authorize timeout' },
                },
              ],
            },
          },
        },
        bound: {
          on: {
            'socket.closed': { guard: 'isResumableLoss', target: '#session.suspended', actions: 'armSuspend' },
            'heartbeat.expired': {
              guard: 'isResumableLoss',
              target: '#session.suspended',
              actions: ['terminateSocket', 'armSuspend'],
            },
            'node.bound': [
              { guard: 'isSameUid' },
              { target: 'bound', reenter: true, actions: ['release', 'bindUid', 'fireReconnect'] },
            ],
            'node.unbound': { target: 'unbound', actions: ['release', 'unbindUid', 'armAuthorize'] },
            'session.displaced': {
              target: '#session.closing',
              actions: [
                // release runs while context.uid is still the displaced uid (drops the index entry if it is ours).
                'release',
                'unbindUid',
                { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
                { type: 'closeGracefully', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
              ],
            },
          },
        },
      },
    },
    suspended: {
      on: {
        'session.resumed': { target: 'active.bound', actions: 'fireResume' },
        'suspend.expired': {
          target: 'closed',
          actions: {
            type: 'recordClose',
            params: { code: CloseCode.RESUME_EXPIRED, reason: 'resume window expired' },
          },
        },
        'session.kicked': {
          target: 'closed',
          actions: { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
        },
        'session.displaced': {
          target: 'closed',
          actions: [
            'unbindUid',
            { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
          ],
        },
        'node.unbound': {
          target: 'closed',
          actions: { type: 'recordClose', params: { code: CloseCode.NORMAL, reason: 'unbound while suspended' } },
        },
        'session.handedOver': 'handedOver',
        // The lost socket's close may be reported late: it changes nothing now.
        'socket.closed': {},
      },
    },
    handedOver: {
      type: 'final',
      entry: 'forget',
    },
    closing: {
      on: {
        'socket.closed': {
          target: '#session.closed',
          actions: { type: 'recordClose', params: ({ event }) => ({ code: event.code, reason: event.reason }) },
        },
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
