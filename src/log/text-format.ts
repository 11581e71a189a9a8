/**
 * The `text` log format: one readable line per record, written from pino's JSON line (no pino-pretty).
 * `2026-11-24 20:15:39.123 INFO  session opened gate=g1 cid=7 uid=1001 route=2`
 */

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Formats epoch ms as `YYYY-MM-DD HH:mm:ss.SSS` in `timezone` ("Local" = the process's zone). */
export function createTimeFormatter(timezone: string): (ms: number) => string {
  if (timezone === 'Local') {
    return (ms) => {
      const d = new Date(ms);
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
    };
  }
  // Built once: Intl formatters are costly to create and cheap to reuse.
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  return (ms) => {
    const p: Record<string, string> = {};
    for (const part of f.formatToParts(ms)) p[part.type] = part.value;
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${pad(((ms % 1000) + 1000) % 1000, 3)}`;
  };
}

const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'caller', 'err']);

function showField(v: unknown): string {
  if (typeof v === 'string') return /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** Turns one pino JSON line into a text line (with a trailing newline); a line that is not JSON passes through. */
export function formatTextLine(json: string, formatTime: (ms: number) => string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof rec.time === 'number' ? formatTime(rec.time) : '';
  const level = String(rec.level ?? '')
    .toUpperCase()
    .padEnd(5);
  let line = `${time} ${level} ${typeof rec.msg === 'string' ? rec.msg : ''}`;
  for (const [k, v] of Object.entries(rec)) {
    if (!SKIP.has(k) && v !== undefined) line += ` ${k}=${showField(v)}`;
  }
  let stack = '';
  const err = rec.err;
  // A cause given as text (`err: String(e)`, a reason code) is the most useful part of the line: never dropped.
  if (typeof err === 'string' || typeof err === 'number' || typeof err === 'boolean') line += ` err=${showField(err)}`;
  else if (typeof err === 'object' && err !== null) {
    const e = err as { message?: unknown; stack?: unknown; code?: unknown };
    line += ` err=${showField(e.message ?? '')}`;
    if (e.code !== undefined) line += ` code=${showField(e.code)}`;
    if (typeof e.stack === 'string') {
      stack = e.stack
        .split('\n')
        .slice(1)
        .map((s) => `\n    ${s.trim()}`)
        .join('');
    }
  }
  if (typeof rec.caller === 'string') line += ` (${rec.caller})`;
  return `${line}${stack}\n`;
}
