import { type CaptureEntry, parseCloseData } from './capture-records.js';
import type { ReplayConnection } from './replay-connection.js';

/** One connection whose close differs from the capture's. */
export interface ReplayCloseMismatch {
  cid: number;
  gid: string;
  /** The recorded close code; undefined: the capture shows the connection open (or closed by its client) at the end. */
  expected: number | undefined;
  /** The code the server closed the replayed connection with; undefined: the server did not close it. */
  actual: number | undefined;
}

/** Close codes a client sends when it is done: not a server decision, so never compared. */
const CLIENT_CLOSE_CODES = new Set([1000, 1005]);

/**
 * The server-side close the capture recorded for each connection (gid/cid → code), or undefined when the capture
 * records no closes at all (a file written before closes were captured, or a bus capture): then nothing is compared.
 * A connection its client closed normally maps to undefined, like one still open.
 */
export function recordedCloses(entries: readonly CaptureEntry[]): Map<string, number | undefined> | undefined {
  const closes = entries.filter((e) => e.kind === 'close');
  if (closes.length === 0) return undefined;
  const out = new Map<string, number | undefined>();
  for (const e of closes) {
    const { code } = parseCloseData(e.data);
    out.set(`${e.gid}/${e.cid}`, CLIENT_CLOSE_CODES.has(code) ? undefined : code);
  }
  return out;
}

/**
 * Compares, before replay closes its own sockets, how the server closed each replayed connection with the capture.
 * A connection the capture shows closed by the server gets until `deadline` (Date.now() ms) for its close.
 */
export async function compareCloses(
  conns: Iterable<{ cid: number; gid: string; socket: ReplayConnection | undefined }>,
  recorded: Map<string, number | undefined>,
  deadline: number,
): Promise<ReplayCloseMismatch[]> {
  const out: ReplayCloseMismatch[] = [];
  for (const c of conns) {
    if (!c.socket) continue;
    const expected = recorded.get(`${c.gid}/${c.cid}`);
    if (expected !== undefined && c.socket.closeCode === undefined) {
      const left = deadline - Date.now();
      // waitFor resolves once the socket closes; no count is ever this high.
      if (left > 0) await c.socket.waitFor(Number.MAX_SAFE_INTEGER, left);
    }
    const actual = c.socket.closeCode;
    if (actual !== expected) out.push({ cid: c.cid, gid: c.gid, expected, actual });
  }
  return out;
}
