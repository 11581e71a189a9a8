import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { DuetError, ErrorCode } from '../errors.js';

/** TypeScript views of proto/cluster.proto (field names in protobufjs's camelCase). int64 fields are safe integers. */
export interface Deliver {
  cid: number;
  uid: number;
  packet: Uint8Array;
  nid?: string;
}
export interface Trigger {
  event: number;
  cid: number;
  uid: number;
}
export interface Moved {
  uid: number;
  gid: string;
}
export type NodeItem =
  | { deliver: Deliver; trigger?: undefined; moved?: undefined }
  | { trigger: Trigger; deliver?: undefined; moved?: undefined }
  | { moved: Moved; deliver?: undefined; trigger?: undefined };
export interface NodeBatch {
  gid: string;
  items: NodeItem[];
}

/** Session kinds of gate operations (due session.Kind). */
export const SessionKind = { CONN: 1, USER: 2 } as const;
export type SessionKind = (typeof SessionKind)[keyof typeof SessionKind];

export interface GateOpBody {
  bind?: { cid: number; uid: number };
  unbind?: { uid: number; cid: number };
  push?: { kind: number; target: number; packet: Uint8Array; disconnect: boolean };
  multicast?: { kind: number; targets: number[]; packet: Uint8Array; disconnect: boolean };
  broadcast?: { kind: number; packet: Uint8Array; disconnect: boolean };
  publish?: { channel: string; packet: Uint8Array; disconnect: boolean };
  subscribe?: { kind: number; targets: number[]; channel: string };
  unsubscribe?: { kind: number; targets: number[]; channel: string };
  disconnect?: { kind: number; target: number; force: boolean; displaced?: boolean };
  isOnline?: { kind: number; target: number };
  stat?: { kind: number };
  getIp?: { kind: number; target: number };
  fence?: { uid: number };
}
export interface GateOp extends GateOpBody {
  /** Non-zero when the sender waits for a Result. */
  id: number;
}
export interface GateOps {
  nid: string;
  reply: string;
  ops: GateOp[];
  /** Relayed by a gate that handed a session over (issue 11); `nid` names the node that sent them. */
  forwarded?: boolean;
  /** Signed control operations (op-signature.ts): set by OpSigner, never by hand. */
  sig?: Uint8Array;
  signedAt?: number;
}

export const ResultCode = { OK: 0, NOT_FOUND_SESSION: 1, INTERNAL: 2, UNAVAILABLE: 3, ILLEGAL_ARGUMENT: 4 } as const;
export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode];

export interface Result {
  id: number;
  code: number;
  message: string;
  total: number;
  online: boolean;
  ip: string;
  gid: string;
}
export interface Results {
  results: Result[];
}

export interface Transition {
  tsMs: number;
  gate: string;
  cid: number;
  uid: number;
  from: string;
  to: string;
  event: string;
  reason: string;
}

export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Throws DuetError(DUET_ERR_ENVELOPE_DECODE) on bytes that are not a valid envelope. */
  decode(bytes: Uint8Array): T;
}

const protoPath = new URL('../../proto/cluster.proto', import.meta.url);
const root = protobuf.parse(readFileSync(protoPath, 'utf8'), { keepCase: false }).root;
interface LongLike {
  toNumber(): number;
}
const isLong = (v: object): v is LongLike => 'low' in v && 'high' in v && 'unsigned' in v;

/**
 * Turns the int64 fields protobufjs decodes as Long into numbers, in place, over the decoded message tree (our ids
 * are safe integers). About 3× cheaper than Type.toObject(), which copies every message: this runs per bus message
 * on the hot path. Unset fields keep protobufjs's prototype defaults ('' / 0 / false / null / empty bytes).
 */
function normalize(m: Record<string, unknown>): void {
  for (const k of Object.keys(m)) {
    const v = m[k];
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) continue;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const e: unknown = v[i];
        if (typeof e === 'object' && e !== null && !(e instanceof Uint8Array)) {
          if (isLong(e)) v[i] = e.toNumber();
          else normalize(e as Record<string, unknown>);
        }
      }
    } else if (isLong(v)) m[k] = v.toNumber();
    else normalize(v as Record<string, unknown>);
  }
}

/** Unset int64 fields read their default from the message prototype: make that 0, not a Long (see normalize). */
function numberDefaults(type: protobuf.Type): void {
  const proto = type.ctor.prototype as Record<string, unknown>;
  for (const f of type.fieldsArray) {
    f.resolve();
    if (f.long && !f.repeated) proto[f.name] = 0;
    if (f.resolvedType instanceof protobuf.Type && f.resolvedType !== type) numberDefaults(f.resolvedType);
  }
}

function codec<T>(name: string): Codec<T> {
  const type = root.lookupType(`duet.cluster.${name}`);
  numberDefaults(type);
  return {
    encode: (value) => type.encode(value as unknown as Record<string, unknown>).finish(),
    decode: (bytes) => {
      try {
        const m = type.decode(bytes) as unknown as Record<string, unknown>;
        normalize(m);
        return m as T;
      } catch (err) {
        throw new DuetError(ErrorCode.ENVELOPE_DECODE, `invalid ${name} envelope: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}

export const NodeBatchCodec = codec<NodeBatch>('NodeBatch');
export const GateOpsCodec = codec<GateOps>('GateOps');
export const ResultsCodec = codec<Results>('Results');
export const TransitionCodec = codec<Transition>('Transition');

export interface Takeover {
  cid: number;
  uid: number;
  epoch: number;
  seen: number;
  gid: string;
  /** The client's resume token, checked by the gate handing over. */
  token: string;
}
export interface TakeoverReply {
  ok: boolean;
  error: string;
  packets: Uint8Array[];
  pushed: number;
  nodes: string[];
}
export const TakeoverCodec = codec<Takeover>('Takeover');
export const TakeoverReplyCodec = codec<TakeoverReply>('TakeoverReply');
