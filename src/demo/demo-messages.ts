import type protobuf from 'protobufjs';
import { DuetError, ErrorCode } from '../errors.js';

/**
 * TypeScript views and codecs of proto/demo.proto, built from an already parsed protobufjs Root. No Node imports:
 * the node (demo-proto.ts reads the file) and the browser page (web/app.ts bundles the text) share this module.
 * int64 fields are safe integers (uids).
 */

export interface Login {
  name: string;
}
export interface LoginReply {
  uid: number;
  name: string;
  error: string;
}
export interface JoinRoom {
  room: string;
}
export interface Player {
  uid: number;
  name: string;
  x: number;
  y: number;
}
export interface RoomState {
  room: string;
  players: Player[];
  error: string;
  width: number;
  height: number;
}
export interface Chat {
  text: string;
}
export interface Move {
  x: number;
  y: number;
}
export type Leave = Record<string, never>;
export type Logout = Record<string, never>;
export interface Ack {
  error: string;
}
export interface ChatMessage {
  uid: number;
  name: string;
  text: string;
  room: string;
}
export interface Positions {
  room: string;
  players: Player[];
  tick: number;
  /** The node that sent this part of the room. */
  node: string;
}

/** Encodes a partial value (missing fields take proto3 defaults); decodes to a full value with defaults filled. */
export interface MessageCodec<T> {
  encode(value: Partial<T>): Uint8Array;
  /** Throws DuetError(DUET_ERR_ENVELOPE_DECODE) on bytes that are not this message. */
  decode(bytes: Uint8Array): T;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: true, arrays: true };

function codec<T>(root: protobuf.Root, name: string): MessageCodec<T> {
  const type = root.lookupType(`duet.demo.${name}`);
  return {
    encode: (value) => type.encode(type.fromObject(value as Record<string, unknown>)).finish(),
    decode: (bytes) => {
      try {
        return type.toObject(type.decode(bytes), TO_OBJECT) as T;
      } catch (err) {
        throw new DuetError(ErrorCode.ENVELOPE_DECODE, `body is not a valid ${name}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}

export function demoMessages(root: protobuf.Root) {
  return {
    Login: codec<Login>(root, 'Login'),
    LoginReply: codec<LoginReply>(root, 'LoginReply'),
    JoinRoom: codec<JoinRoom>(root, 'JoinRoom'),
    RoomState: codec<RoomState>(root, 'RoomState'),
    Chat: codec<Chat>(root, 'Chat'),
    Move: codec<Move>(root, 'Move'),
    Leave: codec<Leave>(root, 'Leave'),
    Logout: codec<Logout>(root, 'Logout'),
    Ack: codec<Ack>(root, 'Ack'),
    ChatMessage: codec<ChatMessage>(root, 'ChatMessage'),
    Positions: codec<Positions>(root, 'Positions'),
  };
}
export type DemoMessages = ReturnType<typeof demoMessages>;

/** The game's routes (docs/architecture.md: diagnostic routes are 1-4, the game's start at 100). */
export const GameRoute = {
  LOGIN: 100,
  JOIN: 101,
  CHAT: 102,
  MOVE: 103,
  LEAVE: 104,
  LOGOUT: 105,
  /** Push: ChatMessage. */
  CHAT_PUSH: 110,
  /** Push: Positions. */
  POSITIONS_PUSH: 111,
} as const;

/** The gate channel of a room: its members on every node are subscribed to it. */
export function roomChannel(room: string): string {
  return `room:${room}`;
}

/** The board: positions are clamped to [0, WIDTH] × [0, HEIGHT]. */
export const BOARD = { WIDTH: 640, HEIGHT: 400 } as const;
