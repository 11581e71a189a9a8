import { DuetError, ErrorCode } from '../errors.js';

/** Something that decodes bytes into T: a protobufjs Type, or any `{ decode }`. */
export interface Decoder<T> {
  decode(bytes: Uint8Array): T;
}

/** How a node turns handler values into bodies and back (due cluster.node.codec). */
export interface BodyCodec {
  readonly name: 'proto' | 'json';
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

export function bodyCodec(name: 'proto' | 'json'): BodyCodec {
  return name === 'json' ? jsonCodec : protoCodec;
}

/** Raw bytes pass through untouched; anything else goes through the node's codec. */
export function toBody(codec: BodyCodec, value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  return codec.encode(value);
}
