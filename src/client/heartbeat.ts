type Timer = ReturnType<typeof setTimeout>;

/**
 * Client heartbeats and server liveness for one open connection (docs/protocol.md, Liveness).
 * Sends a heartbeat every `intervalMs`; if no frame at all arrives for 2 intervals, calls `onSilent` once.
 * Liveness is a timestamp stamped per frame and checked by one timer that is re-armed only when it fires
 * (nats.js heartbeats.ts counts instead of resetting a timer per message). intervalMs 0 = off.
 */
export class Heartbeat {
  readonly intervalMs: number;
  readonly #send: () => void;
  readonly #onSilent: (silentMs: number) => void;
  #lastFrameAt = 0;
  #beatTimer: ReturnType<typeof setInterval> | undefined;
  #livenessTimer: Timer | undefined;
  #isConfirming = false;

  constructor(intervalMs: number, send: () => void, onSilent: (silentMs: number) => void) {
    this.intervalMs = intervalMs;
    this.#send = send;
    this.#onSilent = onSilent;
  }

  /** Starts both timers; stops first, so calling it twice cannot leak a timer. */
  start(): void {
    this.stop();
    this.#lastFrameAt = performance.now();
    this.#isConfirming = false;
    if (this.intervalMs === 0) return;
    this.#beatTimer = setInterval(this.#send, this.intervalMs);
    this.#arm(2 * this.intervalMs);
  }

  /** Any inbound binary frame (data or heartbeat, valid or not) proves the server alive. */
  frameReceived(): void {
    this.#lastFrameAt = performance.now();
  }

  /** Clears both timers; safe to call twice. */
  stop(): void {
    clearInterval(this.#beatTimer);
    clearTimeout(this.#livenessTimer);
    this.#beatTimer = undefined;
    this.#livenessTimer = undefined;
  }

  #arm(delayMs: number): void {
    this.#livenessTimer = setTimeout(() => {
      this.#livenessTimer = undefined;
      const limitMs = 2 * this.intervalMs;
      const silentMs = performance.now() - this.#lastFrameAt;
      if (silentMs < limitMs) {
        this.#isConfirming = false;
        this.#arm(limitMs - silentMs);
        return;
      }
      // Timers run before pending socket reads in a loop turn: after a stall (busy process, throttled tab) a frame
      // may be waiting unread. Look once more after that I/O has been processed before calling the server dead.
      if (!this.#isConfirming) {
        this.#isConfirming = true;
        this.#arm(0);
        return;
      }
      this.stop();
      this.#onSilent(silentMs);
    }, delayMs);
  }
}

/** Server time ns → ms since the epoch, floored (so negative times round down too). */
export function nsToMs(ns: bigint | undefined): number | undefined {
  if (ns === undefined) return undefined;
  const q = ns / 1_000_000n;
  return Number(q * 1_000_000n > ns ? q - 1n : q);
}
