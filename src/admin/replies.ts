import type { Bus } from '../bus/bus.js';
import { Subjects } from '../bus/subjects.js';

/** JSON bodies for the control and admin subjects: rare, small, read by people and scripts, so JSON. */
export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** The parsed object, or undefined for anything that is not a JSON object (counted by the caller). */
export function decodeJson(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(new TextDecoder().decode(data));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `reply` is an admin reply subject of this prefix. Responders publish only there, so a control message
 * cannot make a gate or node publish on a data subject (a gate's operations, a node's deliveries).
 */
export function isAdminReply(subjects: Subjects, reply: unknown): reply is string {
  if (typeof reply !== 'string') return false;
  const head = `${subjects.adminReplyPrefix()}.`;
  return reply.startsWith(head) && /^[A-Za-z0-9_-]+$/.test(reply.slice(head.length));
}

export interface CollectOptions {
  bus: Bus;
  prefix?: string;
  /** Where the question goes (a broadcast or one instance's admin subject). */
  subject: string;
  /** The question; a `reply` field is added. */
  body: Record<string, unknown>;
  /** How long answers are awaited. */
  windowMs: number;
  /** Stop as soon as this many answers came (1 for a question to one instance). */
  expect?: number;
}

/**
 * Asks every responder on `subject` and gathers the answers that arrive within the window: the bus's request()
 * takes one reply, and a broadcast has one per gate or node. The reply subject lives under `{prefix}.admin.reply`.
 */
export async function collectReplies(o: CollectOptions): Promise<Record<string, unknown>[]> {
  const subjects = new Subjects(o.prefix);
  const reply = `${subjects.adminReplyPrefix()}.${o.bus.createInbox().replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const sub = o.bus.subscribe(reply);
  const answers: Record<string, unknown>[] = [];
  try {
    await o.bus.flush();
    o.bus.publish(o.subject, encodeJson({ ...o.body, reply }));
    await o.bus.flush();
    let timer: NodeJS.Timeout | undefined;
    const reading = (async () => {
      for await (const m of sub) {
        const v = decodeJson(m.data);
        if (v) answers.push(v);
        if (o.expect !== undefined && answers.length >= o.expect) return;
      }
    })();
    await Promise.race([reading, new Promise<void>((r) => (timer = setTimeout(r, o.windowMs)))]);
    clearTimeout(timer);
  } finally {
    await sub.drain().catch(() => {});
  }
  return answers;
}
