import { errorMessage } from '../errors.js';
import { PacketCodec } from '../packet/codec.js';
import { loadCapture } from './capture-file.js';
import type { CaptureEntry } from './capture-records.js';
import { packetsFromEnvelopes } from './envelope-packets.js';
import { compareCloses, recordedCloses } from './replay-closes.js';
import type { ReplayConnection, ReplayConnector } from './replay-connection.js';
import { type CompareOptions, compareConnection, type ReplayPacket, type ReplayReport } from './replay-diff.js';

export const DEFAULT_REPLAY_STEP_TIMEOUT_MS = 2000;
export const DEFAULT_REPLAY_SETTLE_MS = 3000;
/** After every recorded answer arrived, how long extra (unrecorded) packets may still show up. */
export const DEFAULT_REPLAY_QUIET_MS = 100;

export interface ReplayOptions extends CompareOptions {
  /** The gate to replay against, e.g. ws://127.0.0.1:3553/. */
  url: string;
  /** Opens the client connections (src/cli/ws-replay-connection.ts over `ws`). */
  connect: ReplayConnector;
  /** Send as soon as causality allows instead of keeping the recorded gaps. */
  fast?: boolean;
  /** Longest wait for the answers recorded before a packet, before sending it anyway. */
  stepTimeoutMs?: number;
  /** Longest wait at the end for the answers still missing. */
  settleMs?: number;
  quietMs?: number;
  signal?: AbortSignal;
}

interface Conn {
  key: string;
  cid: number;
  gid: string;
  expected: ReplayPacket[];
  socket: ReplayConnection | undefined;
  /** Recorded answers for this connection passed so far in the walk. */
  need: number;
}

/**
 * Replays the client side of a capture: one WebSocket per recorded connection (gid/cid), its `in` packets sent in
 * the recorded global order, and before each one the walk waits for the answers the capture shows arriving before
 * it (on any connection), so a login that follows another connection's response is not raced ahead of it.
 * Without `fast` the recorded gaps are kept too. Then each connection's data packets are compared with the recorded
 * `out` packets by route, seq and body; heartbeats are never compared. A capture of bus envelopes alone is
 * replayed through the client packets the envelopes carried (see packetsFromEnvelopes).
 */
export async function replayCapture(path: string, o: ReplayOptions): Promise<ReplayReport> {
  const { header, entries } = await loadCapture(path);
  const codec = new PacketCodec(header.packet);
  // A bus capture (`duet capture`) holds envelopes only: replay the client packets they carried.
  const recorded = entries.filter((e) => e.kind === 'packet');
  const packets = recorded.length > 0 ? recorded : packetsFromEnvelopes(entries, codec);
  const conns = new Map<string, Conn>();
  const connOf = (e: CaptureEntry): Conn => {
    const key = `${e.gid}/${e.cid}`;
    let c = conns.get(key);
    if (!c) {
      c = { key, cid: e.cid, gid: e.gid, expected: [], socket: undefined, need: 0 };
      conns.set(key, c);
    }
    return c;
  };
  for (const e of packets) {
    const c = connOf(e);
    if (e.direction !== 'out') continue;
    const r = codec.decode(e.data);
    if (r.ok && r.packet.kind === 'data')
      c.expected.push({ route: r.packet.route, seq: r.packet.seq, body: new Uint8Array(r.packet.body) });
  }

  const report: ReplayReport = {
    ok: false,
    connections: conns.size,
    sent: 0,
    compared: 0,
    mismatches: [],
    closes: [],
    problems: [],
  };
  const stepTimeoutMs = o.stepTimeoutMs ?? DEFAULT_REPLAY_STEP_TIMEOUT_MS;
  const firstAt = packets.length > 0 ? timeNs(packets[0] as CaptureEntry) : 0;
  const startMs = performance.now();
  const failed = new Set<Conn>();
  const unsatisfied = new Set<Conn>();
  try {
    for (const e of packets) {
      o.signal?.throwIfAborted();
      const c = connOf(e);
      if (failed.has(c)) continue;
      if (!c.socket) {
        try {
          c.socket = await o.connect(o.url, codec);
        } catch (err) {
          failed.add(c);
          const n = c.expected.length;
          report.problems.push(
            `cid ${c.cid} (gate ${c.gid}): ${errorMessage(err)} (its ${n} recorded answer${n === 1 ? '' : 's'} not compared)`,
          );
          continue;
        }
      }
      if (e.direction === 'out') {
        if (codec.decode(e.data).ok && isData(e.data)) {
          c.need++;
          unsatisfied.add(c);
        }
        continue;
      }
      await waitForAnswers(unsatisfied, stepTimeoutMs);
      if (!o.fast) await waitUntil(startMs + (timeNs(e) - firstAt) / 1e6, o.signal);
      if (!c.socket.send(e.data)) {
        report.problems.push(
          `cid ${c.cid} (gate ${c.gid}): the server closed the connection (code ${c.socket.closeCode} ${c.socket.closeReason}) before a recorded client packet was sent`,
        );
        failed.add(c);
        continue;
      }
      report.sent++;
    }
    // The end: every connection gets the rest of its recorded answers, or the settle time runs out.
    const settleEnd = Date.now() + (o.settleMs ?? DEFAULT_REPLAY_SETTLE_MS);
    for (const c of conns.values()) {
      const left = settleEnd - Date.now();
      if (c.socket && left > 0) await c.socket.waitFor(c.expected.length, left);
    }
    await waitUntil(performance.now() + (o.quietMs ?? DEFAULT_REPLAY_QUIET_MS), o.signal);
    const closes = recordedCloses(entries);
    if (closes) report.closes = await compareCloses(conns.values(), closes, settleEnd);
  } finally {
    await Promise.all([...conns.values()].map((c) => c.socket?.close()));
  }
  for (const c of conns.values()) {
    report.compared += c.expected.length;
    // A connection that never opened is one problem already, not one missing answer per recorded packet.
    if (!c.socket) continue;
    report.mismatches.push(...compareConnection(c, c.expected, c.socket?.received ?? [], o));
  }
  report.ok = report.mismatches.length === 0 && report.closes.length === 0 && report.problems.length === 0;
  return report;
}

function isData(packet: Uint8Array): boolean {
  // docs/protocol.md: byte 4 is the header, its top bit marks a heartbeat.
  return packet.length > 4 && ((packet[4] as number) & 0x80) === 0;
}

function timeNs(e: CaptureEntry): number {
  return e.monoNs > 0 ? e.monoNs : e.tsMs * 1e6;
}

/** Waits until each connection has the answers recorded so far, dropping the satisfied ones from the set. */
async function waitForAnswers(unsatisfied: Set<Conn>, timeoutMs: number): Promise<void> {
  for (const c of unsatisfied) {
    if (!c.socket) {
      unsatisfied.delete(c);
      continue;
    }
    await c.socket.waitFor(c.need, timeoutMs);
    // Satisfied, closed, or timed out: either way later steps do not wait for it again.
    unsatisfied.delete(c);
  }
}

/** Resolves at `atMs` (performance.now() time); the gap is the point of timed replay, not a synchronization. */
function waitUntil(atMs: number, signal?: AbortSignal): Promise<void> {
  const ms = atMs - performance.now();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
