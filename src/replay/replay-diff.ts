import type { ReplayCloseMismatch } from './replay-closes.js';

/**
 * Comparing what a server answered during a replay with what the capture recorded, and rendering the differences
 * for a person: route, seq, and the body as hex plus a UTF-8 preview.
 */

/** One server → client data packet, as compared (heartbeats are never compared). */
export interface ReplayPacket {
  route: number;
  /** 0 = a push (docs/protocol.md: seq 0 is never a request). */
  seq: number;
  body: Uint8Array;
}

export interface ReplayMismatch {
  /** The connection's cid in the capture. */
  cid: number;
  /** The gate that served it in the capture. */
  gid: string;
  /** Position in the connection's recorded (or, for an extra packet, received) data packets. */
  index: number;
  /** Undefined: the server sent a packet the capture does not have. */
  expected: ReplayPacket | undefined;
  /** Undefined: the server never sent the recorded packet. */
  actual: ReplayPacket | undefined;
}

export interface ReplayReport {
  ok: boolean;
  /** Connections replayed (one per recorded cid). */
  connections: number;
  /** Client packets sent. */
  sent: number;
  /** Recorded server data packets compared. */
  compared: number;
  mismatches: ReplayMismatch[];
  /** Connections the server closed otherwise than the capture recorded (a capture without closes compares none). */
  closes: ReplayCloseMismatch[];
  /** Problems that are not a packet difference: a refused upgrade, a send on a connection the server closed… */
  problems: string[];
}

export interface CompareOptions {
  /** Pushes (seq 0) may arrive in any order relative to each other; responses are still compared in order. */
  ignorePushOrder?: boolean;
}

function equal(a: ReplayPacket, b: ReplayPacket): boolean {
  if (a.route !== b.route || a.seq !== b.seq || a.body.length !== b.body.length) return false;
  for (let i = 0; i < a.body.length; i++) if (a.body[i] !== b.body[i]) return false;
  return true;
}

/** The differences between one connection's recorded and received data packets. */
export function compareConnection(
  conn: { cid: number; gid: string },
  expected: readonly ReplayPacket[],
  actual: readonly ReplayPacket[],
  o: CompareOptions = {},
): ReplayMismatch[] {
  const out: ReplayMismatch[] = [];
  const mismatch = (index: number, e: ReplayPacket | undefined, a: ReplayPacket | undefined): void => {
    out.push({ cid: conn.cid, gid: conn.gid, index, expected: e, actual: a });
  };
  if (!o.ignorePushOrder) {
    align(expected, actual, mismatch);
    return out;
  }
  // Responses in order among themselves; each recorded push must find an equal received push somewhere.
  const indexed = <T extends ReplayPacket>(list: readonly T[]) => list.map((p, index) => ({ p, index }));
  const eResp = indexed(expected).filter((x) => x.p.seq !== 0);
  const aResp = indexed(actual).filter((x) => x.p.seq !== 0);
  for (let i = 0; i < Math.max(eResp.length, aResp.length); i++) {
    const e = eResp[i];
    const a = aResp[i];
    if (!e || !a || !equal(e.p, a.p)) mismatch(e?.index ?? a?.index ?? i, e?.p, a?.p);
  }
  const aPush = indexed(actual).filter((x) => x.p.seq === 0);
  const used = new Set<number>();
  for (const e of indexed(expected).filter((x) => x.p.seq === 0)) {
    const hit = aPush.find((a) => !used.has(a.index) && equal(e.p, a.p));
    if (hit) used.add(hit.index);
    else mismatch(e.index, e.p, undefined);
  }
  for (const a of aPush) if (!used.has(a.index)) mismatch(a.index, undefined, a.p);
  return out.sort((x, y) => x.index - y.index);
}

/** How far ahead alignment looks for a packet's route/seq: seqs wrap, so only nearby packets are candidates. */
const ALIGN_WINDOW = 256;

const sameKey = (a: ReplayPacket, b: ReplayPacket): boolean => a.route === b.route && a.seq === b.seq;

function foundAhead(list: readonly ReplayPacket[], from: number, p: ReplayPacket): boolean {
  for (let k = from; k < list.length && k < from + ALIGN_WINDOW; k++)
    if (sameKey(list[k] as ReplayPacket, p)) return true;
  return false;
}

/**
 * Walks both lists in order pairing packets by route and seq, so one missing answer is reported as missing rather
 * than shifting every later pair into a difference.
 */
function align(
  expected: readonly ReplayPacket[],
  actual: readonly ReplayPacket[],
  mismatch: (index: number, e: ReplayPacket | undefined, a: ReplayPacket | undefined) => void,
): void {
  let i = 0;
  let j = 0;
  while (i < expected.length || j < actual.length) {
    const e = expected[i];
    const a = actual[j];
    if (!e) {
      mismatch(j++, undefined, a);
      continue;
    }
    if (!a) {
      mismatch(i++, e, undefined);
      continue;
    }
    if (!sameKey(e, a)) {
      if (!foundAhead(actual, j + 1, e)) {
        mismatch(i++, e, undefined);
        continue;
      }
      if (!foundAhead(expected, i + 1, a)) {
        mismatch(j++, undefined, a);
        continue;
      }
    }
    if (!equal(e, a)) mismatch(i, e, a);
    i++;
    j++;
  }
}

const PREVIEW_BYTES = 48;

/** `68 65 6c 6c 6f  "hello"`: hex of the first bytes and a UTF-8 preview with control characters escaped. */
export function previewBytes(b: Uint8Array): string {
  const head = b.subarray(0, PREVIEW_BYTES);
  const hex = Array.from(head, (x) => x.toString(16).padStart(2, '0')).join(' ');
  const more = b.length > PREVIEW_BYTES ? ` … (+${b.length - PREVIEW_BYTES} bytes)` : '';
  const text = JSON.stringify(new TextDecoder('utf-8', { fatal: false }).decode(head));
  return b.length === 0 ? '(empty)' : `${hex}${more}  ${text}`;
}

function describe(p: ReplayPacket): string {
  const what = p.seq === 0 ? 'push' : 'response';
  return `${what} route ${p.route} seq ${p.seq} body ${p.body.length} bytes: ${previewBytes(p.body)}`;
}

/** Why two packets differ, in words: which of route, seq and body. */
function differences(e: ReplayPacket, a: ReplayPacket): string {
  const parts: string[] = [];
  if (e.route !== a.route) parts.push(`route ${e.route} ≠ ${a.route}`);
  if (e.seq !== a.seq) parts.push(`seq ${e.seq} ≠ ${a.seq}`);
  if (!equal({ ...e, route: a.route, seq: a.seq }, a)) {
    let i = 0;
    while (i < e.body.length && i < a.body.length && e.body[i] === a.body[i]) i++;
    parts.push(`body differs from byte ${i}`);
  }
  return parts.join(', ');
}

/** A report as text: one summary line, then each mismatch with expected and actual packets. */
/** Enough to see the pattern; the report object keeps every mismatch. */
export const DEFAULT_MAX_RENDERED_MISMATCHES = 20;

export function formatReplayReport(r: ReplayReport, o: { maxMismatches?: number } = {}): string {
  const lines = [
    r.ok
      ? `replay ok: ${r.connections} connections, ${r.sent} packets sent, ${r.compared} answers match`
      : `replay FAILED: ${r.mismatches.length} mismatches, ${r.closes.length > 0 ? `${r.closes.length} close mismatches, ` : ''}${r.problems.length} problems (${r.connections} connections, ${r.sent} packets sent, ${r.compared} answers recorded)`,
  ];
  for (const p of r.problems) lines.push(`  problem: ${p}`);
  const code = (c: number | undefined): string => (c === undefined ? 'not closed by the server' : `close ${c}`);
  for (const c of r.closes)
    lines.push(`  cid ${c.cid} (gate ${c.gid}): expected ${code(c.expected)}, got ${code(c.actual)}`);
  for (const m of r.mismatches.slice(0, o.maxMismatches ?? DEFAULT_MAX_RENDERED_MISMATCHES)) {
    const where = `cid ${m.cid} (gate ${m.gid}) packet #${m.index}`;
    const p = m.expected ?? m.actual;
    const head = m.expected && m.actual ? differences(m.expected, m.actual) : m.expected ? 'missing' : 'unexpected';
    lines.push(`  ${where}, route ${p?.route} seq ${p?.seq}: ${head}`);
    lines.push(`    expected: ${m.expected ? describe(m.expected) : '(nothing)'}`);
    lines.push(`    actual:   ${m.actual ? describe(m.actual) : '(nothing)'}`);
  }
  const hidden = r.mismatches.length - (o.maxMismatches ?? DEFAULT_MAX_RENDERED_MISMATCHES);
  if (hidden > 0) lines.push(`  … and ${hidden} more mismatches`);
  return lines.join('\n');
}
