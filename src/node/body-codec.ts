import { DuetError, ErrorCode } from '../errors.js';
import { msgpackCodec } from './msgpack-codec.js';

/** Something that decodes bytes into T: a protobufjs Type, or any `{ decode }`. */
export interface Decoder<T> {
  decode(bytes: Uint8Array): T;
}

export type BodyCodecName = 'proto' | 'json' | 'msgpack';

/** How a node turns handler values into bodies and back (due cluster.node.codec). */
export interface BodyCodec {
  readonly name: BodyCodecName;
  /** true: a string value goes through encode() as due does; false/absent: its UTF-8 bytes are sent as they are. */
  readonly encodesStrings?: boolean;
  encode(value: unknown): Uint8Array;
  decode<T>(bytes: Uint8Array, decoder?: Decoder<T>): T;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const jsonCodec: BodyCodec = {
  name: 'json',
  encode: (value) => encoder.encode(JSON.stringify(value)),
  decode: <T>(bytes: Uint8Array, d?: Decoder<T>): T => {
    if (d) return d.decode(bytes);
    try {
      return JSON.parse(decoder.decode(bytes)) as T;
    } catch (err) {
      throw new DuetError(ErrorCode.ENVELOPE_DECODE, `body is not valid JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
  },
};

/**
 * The json codec of `cluster.node.codec = "json"`: due's (a string response goes out JSON-encoded, `"text"`).
 * jsonCodec, a Node's default when none is given, keeps sending strings as their bytes for embedders.
 */
export const dueJsonCodec: BodyCodec = { ...jsonCodec, encodesStrings: true };

interface ProtoMessage {
  $type: { encode(m: unknown): { finish(): Uint8Array } };
}

function isProtoMessage(v: unknown): v is ProtoMessage {
  return typeof v === 'object' && v !== null && '$type' in v;
}

/** protobuf bodies: encode takes a protobufjs message instance (Type.create), decode needs its Type. */
export const protoCodec: BodyCodec = {
  name: 'proto',
  encode: (value) => {
    if (!isProtoMessage(value)) {
      throw new DuetError(
        ErrorCode.ILLEGAL_OPERATION,
        'the proto codec encodes protobufjs messages (Type.create(...))',
      );
    }
    return value.$type.encode(value).finish();
  },
  decode: <T>(bytes: Uint8Array, d?: Decoder<T>): T => {
    if (!d) throw new DuetError(ErrorCode.ILLEGAL_OPERATION, 'the proto codec needs a message type to parse');
    try {
      return d.decode(bytes);
    } catch (err) {
      throw new DuetError(ErrorCode.ENVELOPE_DECODE, `body is not a valid message: ${(err as Error).message}`, {
        cause: err,
      });
    }
  },
};

export function bodyCodec(name: BodyCodecName): BodyCodec {
  if (name === 'json') return dueJsonCodec;
  if (name === 'msgpack') return msgpackCodec;
  return protoCodec;
}

/**
 * Raw bytes pass through untouched; anything else goes through the node's codec. A string is encoded by codecs
 * that do so in due (json from the config: `"text"` with quotes; msgpack: a msgpack str); under proto, which has
 * no string message, and the embedders' default jsonCodec, it is sent as its UTF-8 bytes.
 */
export function toBody(codec: BodyCodec, value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string' && codec.encodesStrings !== true) return encoder.encode(value);
  return codec.encode(value);
}
