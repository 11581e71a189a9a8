/**
 * Sockets between TCP accept and the WebSocket upgrade (issue 20). Node's http server counts them against nothing
 * and checks its request timeouts only every 30 s, so silent or slowloris sockets could take every file descriptor.
 * Here every such socket counts against a gate-wide and a per-IP cap, and is destroyed once `timeoutMs` has passed
 * without an upgrade request. One timer for all of them (no timer per socket).
 */
import type { Socket } from 'node:net';
import { RefusalReason } from './admission.js';

export interface HandshakeLimits {
  /** A socket with no upgrade request by then is destroyed (due's handshakeTimeout). > 0. */
  timeoutMs: number;
  /** Most sockets waiting for their upgrade, all IPs together. >= 1. */
  maxNum: number;
  /** Most waiting sockets from one IP; 0 = no limit. */
  maxPerIp: number;
}

export type HandshakeRefusal =
  | typeof RefusalReason.MAX_HANDSHAKE
  | typeof RefusalReason.MAX_HANDSHAKE_PER_IP
  | typeof RefusalReason.HANDSHAKE_TIMEOUT;

interface Waiting {
  socket: Socket;
  ip: string;
  deadlineMs: number;
}

/** Key of one TCP connection: the same for the raw socket and, under TLS, the TLSSocket the upgrade arrives on. */
export function socketKey(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;
}

export class HandshakeGuard {
  readonly #limits: HandshakeLimits;
  readonly #now: () => number;
  /** Accept order = deadline order (one timeout for all), so a sweep stops at the first socket still in time. */
  readonly #waiting = new Map<string, Waiting>();
  readonly #perIp = new Map<string, number>();
  readonly #onDrop: (reason: HandshakeRefusal, ip: string) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    limits: HandshakeLimits,
    onDrop: (reason: HandshakeRefusal, ip: string) => void,
    now: () => number = Date.now,
  ) {
    this.#limits = limits;
    this.#onDrop = onDrop;
    this.#now = now;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Starts the sweep; the owner calls stop() when it closes. */
  start(): void {
    if (this.#timer !== undefined) return;
    const period = Math.max(10, Math.min(1000, Math.floor(this.#limits.timeoutMs / 10)));
    this.#timer = setInterval(() => this.sweep(), period);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * A socket was accepted: returns undefined when it may wait for its upgrade, else the cap it hit (the caller
   * refuses it). `ip` is the normalized remote address.
   */
  accept(socket: Socket, ip: string): HandshakeRefusal | undefined {
    if (this.#waiting.size >= this.#limits.maxNum) return RefusalReason.MAX_HANDSHAKE;
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (this.#limits.maxPerIp > 0 && fromIp >= this.#limits.maxPerIp) return RefusalReason.MAX_HANDSHAKE_PER_IP;
    const key = socketKey(socket);
    const entry: Waiting = { socket, ip, deadlineMs: this.#now() + this.#limits.timeoutMs };
    this.#waiting.set(key, entry);
    this.#perIp.set(ip, fromIp + 1);
    socket.once('close', () => {
      if (this.#waiting.get(key) === entry) this.#release(key, entry);
    });
    return undefined;
  }

  /** The upgrade request arrived: from here the socket is a connection (or refused), no longer waiting. */
  upgraded(key: string): void {
    const entry = this.#waiting.get(key);
    if (entry !== undefined) this.#release(key, entry);
  }

  /** Destroys every socket past its deadline; returns how many. Public for tests with their own clock. */
  sweep(): number {
    const now = this.#now();
    let n = 0;
    for (const [key, entry] of this.#waiting) {
      if (entry.deadlineMs > now) break;
      this.#release(key, entry);
      entry.socket.destroy();
      this.#onDrop(RefusalReason.HANDSHAKE_TIMEOUT, entry.ip);
      n++;
    }
    return n;
  }

  /** Destroys every waiting socket (transport close). */
  destroyAll(): void {
    for (const [key, entry] of this.#waiting) {
      this.#release(key, entry);
      entry.socket.destroy();
    }
  }

  #release(key: string, entry: Waiting): void {
    this.#waiting.delete(key);
    const n = (this.#perIp.get(entry.ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(entry.ip);
    else this.#perIp.set(entry.ip, n);
  }
}
