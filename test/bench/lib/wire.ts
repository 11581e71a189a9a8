/**
 * Client-side wire formats of the load generator, hand-rolled so a worker spends its CPU on sockets, not codecs:
 * due packets (docs/protocol.md, default layout: big-endian, 2-byte route, 2-byte seq) and the pomelo/pinus protocol
 * (package: type + 3-byte length; message: flag, base-128 id, route string, JSON body).
 */

export const DUET_HEADER_BYTES = 9;

/** A due data packet: size(4) header(1) route(2) seq(2) body. */
export function duetRequest(route: number, seq: number, body: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(DUET_HEADER_BYTES + body.length);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = 0;
  b.writeInt16BE(route, 5);
  b.writeInt16BE(seq, 7);
  b.set(body, DUET_HEADER_BYTES);
  return b;
}

/** Rewrites the seq of a frame built by duetRequest (open loop: many requests in flight per socket). */
export function setDuetSeq(frame: Buffer, seq: number): void {
  frame.writeInt16BE(seq, 7);
}

export const DUET_HEARTBEAT = Buffer.from([0, 0, 0, 1, 0x80]);

export interface DuetFrameInfo {
  heartbeat: boolean;
  route: number;
  seq: number;
}

export function readDuetFrame(b: Buffer): DuetFrameInfo | undefined {
  if (b.length < 5) return undefined;
  if ((b[4] as number) & 0x80) return { heartbeat: true, route: 0, seq: 0 };
  if (b.length < DUET_HEADER_BYTES) return undefined;
  return { heartbeat: false, route: b.readInt16BE(5), seq: b.readInt16BE(7) };
}

export const PomeloPackage = { HANDSHAKE: 1, HANDSHAKE_ACK: 2, HEARTBEAT: 3, DATA: 4, KICK: 5 } as const;
const POMELO_REQUEST = 0;
export const POMELO_RESPONSE = 2;

export function pomeloPackage(type: number, body?: Uint8Array): Buffer {
  const len = body ? body.length : 0;
  const b = Buffer.allocUnsafe(4 + len);
  b[0] = type;
  b[1] = (len >> 16) & 0xff;
  b[2] = (len >> 8) & 0xff;
  b[3] = len & 0xff;
  if (body) b.set(body, 4);
  return b;
}

export function pomeloHandshake(): Buffer {
  const body = JSON.stringify({ sys: { type: 'duet-bench', version: '0.0.1', rsa: {} }, user: {} });
  return pomeloPackage(PomeloPackage.HANDSHAKE, Buffer.from(body));
}

function varint(id: number): number[] {
  const out: number[] = [];
  let v = id;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) b += 128;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** A DATA package holding a REQUEST message with an uncompressed route and a JSON body. */
export function pomeloRequest(id: number, route: string, json: string): Buffer {
  const r = Buffer.from(route);
  const body = Buffer.from(json);
  const msg = Buffer.concat([Buffer.from([POMELO_REQUEST << 1, ...varint(id), r.length]), r, body]);
  return pomeloPackage(PomeloPackage.DATA, msg);
}

/** Splits a ws message into pomelo packages (a server may write several in one frame). */
export function* pomeloPackages(b: Buffer): Generator<{ type: number; body: Buffer }> {
  let off = 0;
  while (off + 4 <= b.length) {
    const type = b[off] as number;
    const len = ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number);
    yield { type, body: b.subarray(off + 4, off + 4 + len) };
    off += 4 + len;
  }
}

/** The message type and id of a DATA package body. */
export function pomeloMessageHead(body: Buffer): { type: number; id: number } {
  const type = ((body[0] as number) >> 1) & 0x7;
  let id = 0;
  let i = 1;
  let shift = 1;
  for (;;) {
    const m = body[i++] as number;
    id += (m & 0x7f) * shift;
    shift *= 128;
    if (m < 128 || i >= body.length) break;
  }
  return { type, id };
}
