import protobuf from 'protobufjs/minimal.js';
import { DuetError, ErrorCode } from '../errors.js';
import { duet } from '../generated/cluster.js';

/**
 * The bus envelopes of proto/cluster.proto. Encode and decode run the static code that scripts/gen-proto.mjs
 * generates into src/generated/ (`npm run gen:proto`); these views are what the rest of duet reads (field names in
 * protobufjs's camelCase, int64 fields as safe-integer numbers), each checked against the generated types below.
 */
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

/**
 * The generated reader's int64/uint64 return Long objects when the long package is loaded (protobufjs depends on
 * it, and the switch is process-wide). This reader returns numbers instead (duet's ids are safe integers), so a
 * decoded envelope needs no walk and no copy: the generated decoders call these methods for every int64 field.
 */
class NumberReader extends protobuf.Reader {}
/** The same over a Buffer (the in-process bus hands encoded Buffers on): Buffer's native string and slice reads. */
class NumberBufferReader extends protobuf.BufferReader {}
const TWO_32 = 2 ** 32;
/** A varint as a 64-bit integer (low and high words, as protobufjs's LongBits), then as a number. */
function readVarint64(r: protobuf.Reader, signed: boolean): number {
  const buf = r.buf;
  let pos = r.pos;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= r.len) throw new RangeError(`index out of range: ${pos} + 1 > ${r.len}`);
    const b = (buf[pos++] as number) & 0x7f;
    if (i < 4) lo |= b << (7 * i);
    else if (i === 4) {
      lo |= b << 28;
      hi |= b >>> 4;
    } else hi |= b << (7 * i - 32);
    if ((buf[pos - 1] as number) < 0x80) {
      r.pos = pos;
      lo >>>= 0;
      hi >>>= 0;
      if (!signed || hi >>> 31 === 0) return lo + hi * TWO_32;
      // Two's complement negative (never one of duet's ids, but decoded exactly as Long.toNumber would).
      lo = (~lo + 1) >>> 0;
      hi = ~hi >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
      return -(lo + hi * TWO_32);
    }
  }
  throw new Error('invalid varint encoding');
}
for (const reader of [NumberReader, NumberBufferReader]) {
  Object.defineProperties(reader.prototype, {
    int64: {
      value: function int64(this: protobuf.Reader) {
        return readVarint64(this, true);
      },
    },
    uint64: {
      value: function uint64(this: protobuf.Reader) {
        return readVarint64(this, false);
      },
    },
  });
}
const readerOf = (bytes: Uint8Array): protobuf.Reader =>
  Buffer.isBuffer(bytes) ? new NumberBufferReader(bytes) : new NumberReader(bytes);

/** What a generated message class offers: encode from its properties, decode from a reader. */
interface MessageType<P> {
  encode(message: P, writer?: protobuf.Writer): protobuf.Writer;
  decode(reader: protobuf.Reader | Uint8Array): object;
}

/**
 * A codec over a generated message class. `T extends P` ties each view above to the generated properties: a field
 * renamed or retyped in proto/cluster.proto fails the type check here. Unset fields read the generated prototype
 * defaults ('' / 0 / false / null / empty bytes), so a decoded message has every field of its view.
 */
function codec<T extends P, P>(name: string, type: MessageType<P>): Codec<T> {
  return {
    encode: (value) => type.encode(value).finish(),
    decode: (bytes) => {
      try {
        return type.decode(readerOf(bytes)) as T;
      } catch (err) {
        throw new DuetError(ErrorCode.ENVELOPE_DECODE, `invalid ${name} envelope: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}

const pb = duet.cluster;

/**
 * Compile-time: every field of a generated message has a key in its view, so a field added to proto/cluster.proto
 * (and regenerated) fails the type check until the view names it. `T extends P` above checks the types.
 */
type Fields<P> = Exclude<keyof P, '$unknowns'>;
type Covered<T, P> = [Exclude<Fields<P>, keyof T>] extends [never] ? true : { missing: Exclude<Fields<P>, keyof T> };
type Assert<T extends true> = T;
type Op<K extends keyof GateOpBody> = NonNullable<GateOpBody[K]>;
type Item<K extends 'deliver' | 'trigger' | 'moved'> = NonNullable<Extract<NodeItem, Record<K, object>>[K]>;
export type EnvelopeViewsCoverGeneratedFields = [
  Assert<Covered<NodeBatch, duet.cluster.NodeBatch.$Properties>>,
  Assert<Covered<Item<'deliver'>, duet.cluster.Deliver.$Properties>>,
  Assert<Covered<Item<'trigger'>, duet.cluster.Trigger.$Properties>>,
  Assert<Covered<Item<'moved'>, duet.cluster.Moved.$Properties>>,
  Assert<Covered<GateOps, duet.cluster.GateOps.$Properties>>,
  // `op` is the oneof's name (which member is set), not a field.
  Assert<Covered<GateOp, Omit<duet.cluster.GateOp.$Properties, 'op'>>>,
  Assert<Covered<Op<'bind'>, duet.cluster.Bind.$Properties>>,
  Assert<Covered<Op<'unbind'>, duet.cluster.Unbind.$Properties>>,
  Assert<Covered<Op<'push'>, duet.cluster.Push.$Properties>>,
  Assert<Covered<Op<'multicast'>, duet.cluster.Multicast.$Properties>>,
  Assert<Covered<Op<'broadcast'>, duet.cluster.Broadcast.$Properties>>,
  Assert<Covered<Op<'publish'>, duet.cluster.Publish.$Properties>>,
  Assert<Covered<Op<'subscribe'>, duet.cluster.Subscribe.$Properties>>,
  Assert<Covered<Op<'unsubscribe'>, duet.cluster.Unsubscribe.$Properties>>,
  Assert<Covered<Op<'disconnect'>, duet.cluster.Disconnect.$Properties>>,
  Assert<Covered<Op<'isOnline'>, duet.cluster.IsOnline.$Properties>>,
  Assert<Covered<Op<'stat'>, duet.cluster.Stat.$Properties>>,
  Assert<Covered<Op<'getIp'>, duet.cluster.GetIP.$Properties>>,
  Assert<Covered<Op<'fence'>, duet.cluster.Fence.$Properties>>,
  Assert<Covered<Results, duet.cluster.Results.$Properties>>,
  Assert<Covered<Result, duet.cluster.Result.$Properties>>,
  Assert<Covered<Transition, duet.cluster.Transition.$Properties>>,
  Assert<Covered<Takeover, duet.cluster.Takeover.$Properties>>,
  Assert<Covered<TakeoverReply, duet.cluster.TakeoverReply.$Properties>>,
];

export const NodeBatchCodec = codec<NodeBatch, duet.cluster.NodeBatch.$Properties>('NodeBatch', pb.NodeBatch);
export const GateOpsCodec = codec<GateOps, duet.cluster.GateOps.$Properties>('GateOps', pb.GateOps);
export const ResultsCodec = codec<Results, duet.cluster.Results.$Properties>('Results', pb.Results);
export const TransitionCodec = codec<Transition, duet.cluster.Transition.$Properties>('Transition', pb.Transition);

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
export const TakeoverCodec = codec<Takeover, duet.cluster.Takeover.$Properties>('Takeover', pb.Takeover);
export const TakeoverReplyCodec = codec<TakeoverReply, duet.cluster.TakeoverReply.$Properties>(
  'TakeoverReply',
  pb.TakeoverReply,
);
