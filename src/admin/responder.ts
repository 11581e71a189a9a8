import { hostname } from 'node:os';
import type { Bus, Subscription } from '../bus/bus.js';
import { Subjects } from '../bus/subjects.js';
import { errorMessage } from '../errors.js';
import { type Log, silentLog } from '../log/types.js';
import { decodeJson, encodeJson, isAdminReply } from './replies.js';

/** What one admin question gets: an answer object, or undefined for "not mine" (locate, kick on another gate). */
export type AdminHandler = (
  cmd: string,
  body: Record<string, unknown>,
) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;

export interface AdminResponderOptions {
  bus: Bus;
  prefix?: string;
  /** The instance id: its own admin subject is `{prefix}.admin.{id}`. */
  id: string;
  handle: AdminHandler;
  log?: Log;
}

/** The fields every `status` answer carries besides the instance's own. */
export function processFacts(startedAtMs: number, version: string): Record<string, unknown> {
  return { version, uptimeMs: Date.now() - startedAtMs, host: hostname(), pid: process.pid };
}

/**
 * Answers admin questions on `{prefix}.admin` (every instance) and `{prefix}.admin.{id}` (this one): JSON
 * `{cmd, reply, ...}` in, JSON out on the `reply` subject, which must be an admin reply subject. A question that
 * fails is answered `{error}`, so the asking tool never waits in silence.
 */
export class AdminResponder {
  readonly #o: AdminResponderOptions;
  readonly #subjects: Subjects;
  readonly #log: Log;
  readonly #subs: Subscription[] = [];
  readonly #reading: Promise<void>[] = [];
  /** Messages that were not an admin question with a valid reply subject. */
  rejected = 0;

  constructor(o: AdminResponderOptions) {
    this.#o = o;
    this.#subjects = new Subjects(o.prefix);
    this.#log = o.log ?? silentLog;
  }

  async start(): Promise<void> {
    for (const subject of [this.#subjects.adminAll(), this.#subjects.admin(this.#o.id)]) {
      const sub = this.#o.bus.subscribe(subject);
      this.#subs.push(sub);
      this.#reading.push(
        (async () => {
          for await (const m of sub) await this.#answer(m.data);
        })(),
      );
    }
    await this.#o.bus.flush();
  }

  async close(): Promise<void> {
    await Promise.all(this.#subs.map((s) => s.drain()));
    await Promise.all(this.#reading);
  }

  async #answer(data: Uint8Array): Promise<void> {
    const q = decodeJson(data);
    if (!q || typeof q.cmd !== 'string' || !isAdminReply(this.#subjects, q.reply)) {
      this.rejected++;
      this.#log.warn('admin message refused', { reason: 'not an admin question with an admin reply subject' });
      return;
    }
    let a: Record<string, unknown> | undefined;
    try {
      a = await this.#o.handle(q.cmd, q);
    } catch (err) {
      this.#log.warn('admin question failed', { cmd: q.cmd, err: errorMessage(err) });
      a = { error: errorMessage(err) };
    }
    if (a) this.#o.bus.publish(q.reply, encodeJson({ id: this.#o.id, ...a }));
  }
}
