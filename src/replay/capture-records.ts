import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { packageUrl } from '../package-root.js';
import { type PacketOptions, packetOptions } from '../packet/options.js';
import type { CaptureDirection } from './capture-sink.js';

/** TypeScript views of proto/capture.proto and the one place that encodes and decodes its records. */

export const CAPTURE_MAGIC = 'duet-capture';
export const CAPTURE_VERSION = 1;

/**
 * What a capture entry's bytes are: a client packet as it crossed the WebSocket, one bus message payload, or the
 * close of a connection (closeData).
 */
export type CaptureKind = 'packet' | 'envelope' | 'close';

export interface CaptureHeader {
  version: number;
  /** The client packet layout of the captured traffic (replay reads route and seq with it). */
  packet: PacketOptions;
  createdMs: number;
  source: string;
}

export interface CaptureEntry {
  /** Wall clock, ms since the epoch. */
  tsMs: number;
  /** Monotonic ns since the writer started: relative timing, immune to clock steps. */
  monoNs: number;
  direction: CaptureDirection;
  gid: string;
  nid: string;
  cid: number;
  uid: number;
  kind: CaptureKind;
  data: Uint8Array;
  /** The bus subject, for envelopes; "" for client packets. */
  subject: string;
}

const protoPath = packageUrl('proto/capture.proto');
const root = protobuf.parse(readFileSync(protoPath, 'utf8'), { keepCase: false }).root;
const RecordType = root.lookupType('duet.capture.Record');
const toObjectOptions: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true };

const DIRECTION = { in: 1, out: 2 } as const;
const KIND = { packet: 1, envelope: 2, close: 3 } as const;

/** The wire shape protobufjs hands back (camelCase, longs as numbers). */
interface WireRecord {
  header?: {
    magic: string;
    version: number;
    packet?: { byteOrder: string; routeBytes: number; seqBytes: number; bufferBytes: number; heartbeatTime: boolean };
    createdMs: number;
    source: string;
  };
  entry?: {
    tsMs: number;
    monoNs: number;
    direction: number;
    gid: string;
    nid: string;
    cid: number;
    uid: number;
    kind: number;
    data: Uint8Array;
    subject: string;
  };
}

/** One length-delimited record holding the header. */
export function encodeHeaderRecord(h: CaptureHeader): Uint8Array {
  const p = h.packet;
  return RecordType.encodeDelimited({
    header: {
      magic: CAPTURE_MAGIC,
      version: h.version,
      packet: {
        byteOrder: p.byteOrder,
        routeBytes: p.routeBytes,
        seqBytes: p.seqBytes,
        bufferBytes: p.bufferBytes,
        heartbeatTime: p.heartbeatTime,
      },
      createdMs: h.createdMs,
      source: h.source,
    },
  }).finish();
}

/** One length-delimited record holding an entry. */
export function encodeEntryRecord(e: CaptureEntry): Uint8Array {
  return RecordType.encodeDelimited({
    entry: {
      tsMs: e.tsMs,
      monoNs: e.monoNs,
      direction: DIRECTION[e.direction],
      gid: e.gid,
      nid: e.nid,
      cid: e.cid,
      uid: e.uid,
      kind: KIND[e.kind],
      data: e.data,
      subject: e.subject,
    },
  }).finish();
}

export type DecodedRecord = { header: CaptureHeader } | { entry: CaptureEntry };

/**
 * Decodes the body of one record (without its length prefix). Throws an Error whose message says what is wrong;
 * the file reader wraps it with the offset.
 */
export function decodeRecordBody(body: Uint8Array): DecodedRecord {
  const message = RecordType.decode(body);
  const r = RecordType.toObject(message, { ...toObjectOptions, oneofs: true }) as WireRecord & { item?: string };
  if (r.item === 'header' && r.header) {
    const h = r.header;
    if (h.magic !== CAPTURE_MAGIC)
      throw new Error(`header magic must be "${CAPTURE_MAGIC}", got ${JSON.stringify(h.magic)}`);
    if (h.version !== CAPTURE_VERSION) throw new Error(`capture version must be ${CAPTURE_VERSION}, got ${h.version}`);
    const p = h.packet;
    const packet = packetOptions(
      p
        ? {
            byteOrder: p.byteOrder === 'little' ? 'little' : 'big',
            routeBytes: p.routeBytes as PacketOptions['routeBytes'],
            seqBytes: p.seqBytes as PacketOptions['seqBytes'],
            bufferBytes: p.bufferBytes,
            heartbeatTime: p.heartbeatTime,
          }
        : {},
    );
    return { header: { version: h.version, packet, createdMs: h.createdMs, source: h.source } };
  }
  if (r.item === 'entry' && r.entry) {
    const e = r.entry;
    const direction = e.direction === DIRECTION.in ? 'in' : e.direction === DIRECTION.out ? 'out' : undefined;
    if (!direction) throw new Error(`entry direction must be IN or OUT, got ${e.direction}`);
    const kind =
      e.kind === KIND.packet
        ? 'packet'
        : e.kind === KIND.envelope
          ? 'envelope'
          : e.kind === KIND.close
            ? 'close'
            : undefined;
    if (!kind) throw new Error(`entry kind must be CLIENT_PACKET, CLUSTER_ENVELOPE or CONNECTION_CLOSE, got ${e.kind}`);
    return {
      entry: {
        tsMs: e.tsMs,
        monoNs: e.monoNs,
        direction,
        gid: e.gid,
        nid: e.nid,
        cid: e.cid,
        uid: e.uid,
        kind,
        // a copy: the decoded view shares the reader's chunk buffer
        data: new Uint8Array(e.data),
        subject: e.subject,
      },
    };
  }
  throw new Error('record holds neither a header nor an entry');
}

/** A close entry's bytes: the close code, 2 bytes big-endian, then the reason in UTF-8. */
export function closeData(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = (code >> 8) & 0xff;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

export function parseCloseData(data: Uint8Array): { code: number; reason: string } {
  const code = data.length >= 2 ? ((data[0] as number) << 8) | (data[1] as number) : 0;
  return { code, reason: new TextDecoder().decode(data.subarray(2)) };
}
