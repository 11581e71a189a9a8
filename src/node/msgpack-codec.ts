import { Packr } from 'msgpackr';
import { DuetError, ErrorCode } from '../errors.js';
import type { BodyCodec, Decoder } from './body-codec.js';

/**
 * due's msgpack node codec (encoding/msgpack, shamaton/msgpack): plain MessagePack, objects as maps keyed by
 * field name. msgpackr's record extension is off so Go reads what we write; maps decode to plain objects.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export const msgpackCodec: BodyCodec = {
  name: 'msgpack',
  encodesStrings: true,
  encode: (value) => {
    try {
      return packr.pack(value);
    } catch (err) {
      throw new DuetError(ErrorCode.ILLEGAL_OPERATION, `value cannot be msgpack-encoded: ${(err as Error).message}`, {
        cause: err,
      });
    }
  },
  decode: <T>(bytes: Uint8Array, d?: Decoder<T>): T => {
    if (d) return d.decode(bytes);
    try {
      return packr.unpack(bytes) as T;
    } catch (err) {
      throw new DuetError(ErrorCode.ENVELOPE_DECODE, `body is not valid msgpack: ${(err as Error).message}`, {
        cause: err,
      });
    }
  },
};
