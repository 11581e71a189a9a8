/**
 * The client side of resumable sessions (issue 11). The gate sends a token on its reserved route when a session is
 * bound; the client counts the pushes it sees from then on, and after an automatic reconnect it asks for the
 * session back with the token and that count. Gates with resume off never send a token: then nothing happens.
 */
import type { PacketCodec } from '../packet/codec.js';
import type { ClientEmitter } from './emitter.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Must match the gate's `session.resume.route` (default -1). */
export const DEFAULT_RESUME_ROUTE = -1;

export type ResumeControl =
  | { type: 'token'; token: string }
  | { type: 'resumed'; uid: number; replayed: number }
  | { type: 'resumeFailed'; error: string };

export class ResumeState {
  readonly route: number;
  readonly enabled: boolean;
  #token: string | undefined;
  /** Pushes seen since the session's numbering began (its first token). */
  seen = 0;

  constructor(route = DEFAULT_RESUME_ROUTE, enabled = true) {
    this.route = route;
    this.enabled = enabled;
  }

  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  /** A control message from the gate, or undefined when the body is not one (it is then a normal push). */
  parse(body: Uint8Array): ResumeControl | undefined {
    try {
      const m = JSON.parse(dec.decode(body)) as Record<string, unknown>;
      if (m.type === 'token' && typeof m.token === 'string') return { type: 'token', token: m.token };
      if (m.type === 'resumed') return { type: 'resumed', uid: Number(m.uid), replayed: Number(m.replayed) };
      if (m.type === 'resumeFailed') return { type: 'resumeFailed', error: String(m.error) };
    } catch {
      // not JSON: not ours
    }
    return undefined;
  }

  /** Applies a control message; returns it for the client to emit. */
  apply(c: ResumeControl): ResumeControl {
    if (c.type === 'token') {
      // The first token of a session starts the push count the gate numbers from its bind.
      if (this.#token === undefined) this.seen = 0;
      this.#token = c.token;
    } else if (c.type === 'resumeFailed') this.#token = undefined;
    return c;
  }

  pushSeen(): void {
    this.seen++;
  }

  /** The resume request packet, when there is a session to resume. */
  request(codec: PacketCodec): Uint8Array | undefined {
    if (!this.enabled || this.#token === undefined) return undefined;
    const body = enc.encode(JSON.stringify({ type: 'resume', token: this.#token, seen: this.seen }));
    return codec.encode({ route: this.route, seq: 0, body });
  }

  /** A push on the reserved route that is a control message: applied and emitted (true), else false. */
  handle(route: number, body: Uint8Array, events: ClientEmitter): boolean {
    if (route !== this.route || !this.enabled) return false;
    const control = this.parse(body);
    if (!control) return false;
    const c = this.apply(control);
    if (c.type === 'resumed') events.emit('resumed', { uid: c.uid, replayed: c.replayed });
    else if (c.type === 'resumeFailed') events.emit('resumeFailed', { error: c.error });
    return true;
  }

  /** close() by the application: the session is over. */
  forget(): void {
    this.#token = undefined;
    this.seen = 0;
  }
}
