/**
 * An append-only log file that rotates by size and by day and deletes rotated files past a max age.
 * `gate.log` is the live file; rotated ones are `gate.2026-11-24.1.log`, `gate.2026-11-24.2.log`, … (the date
 * is the day the data was written). Writes are synchronous so lines stay whole and in order, and nothing
 * is lost on a crash; duet logs per session event, not per frame, so the cost stays off the hot path.
 */
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

export interface RotatingFileOptions {
  path: string;
  /** Start a new file before this many bytes would be exceeded; 0 = no size limit. */
  maxSizeBytes: number;
  /** Start a new file when the local date changes. */
  rotateDaily: boolean;
  /** Delete rotated files whose last write is older than this; 0 = keep all. */
  maxAgeMs: number;
  /** Clock, for tests. */
  now?: () => number;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Local calendar day, e.g. "2026-11-24". */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export class RotatingFile {
  readonly path: string;
  readonly #opts: RotatingFileOptions;
  readonly #now: () => number;
  readonly #dir: string;
  readonly #stem: string;
  readonly #ext: string;
  #fd: number | undefined;
  #bytes = 0;
  #day = '';

  constructor(opts: RotatingFileOptions) {
    this.#opts = opts;
    this.path = opts.path;
    this.#now = opts.now ?? Date.now;
    this.#dir = dirname(opts.path);
    this.#ext = extname(opts.path);
    this.#stem = basename(opts.path, this.#ext);
    mkdirSync(this.#dir, { recursive: true });
    this.#open();
    this.#prune();
  }

  /** Appends one line (callers include the newline). Throws only if the disk write fails. */
  write(line: string): void {
    const now = this.#now();
    const len = Buffer.byteLength(line);
    const tooBig = this.#opts.maxSizeBytes > 0 && this.#bytes > 0 && this.#bytes + len > this.#opts.maxSizeBytes;
    const newDay = this.#opts.rotateDaily && dayKey(now) !== this.#day;
    if (tooBig || newDay) this.rotate();
    if (this.#fd === undefined) this.#open();
    writeSync(this.#fd as number, line);
    this.#bytes += len;
  }

  /** Moves the live file aside (if it has data) and starts a new one; then prunes old files. */
  rotate(): void {
    this.#closeFd();
    if (this.#bytes > 0) renameSync(this.path, this.#nextRotatedName(this.#day));
    this.#open();
    this.#prune();
  }

  /** Rotated files of this log, oldest first (by day, then by sequence number). */
  rotatedFiles(): string[] {
    const order = (name: string): [string, number] => {
      const [day, seq] = this.#middle(name).split('.');
      return [day ?? '', Number(seq)];
    };
    return readdirSync(this.#dir)
      .filter((name) => this.#isRotated(name))
      .map((name) => ({ name, key: order(name) }))
      .sort((a, b) => a.key[0].localeCompare(b.key[0]) || a.key[1] - b.key[1])
      .map(({ name }) => join(this.#dir, name));
  }

  /** Closes the file; safe to call twice. A later write reopens it. */
  close(): void {
    this.#closeFd();
  }

  #open(): void {
    this.#fd = openSync(this.path, 'a');
    const st = fstatSync(this.#fd);
    this.#bytes = st.size;
    // A live file left from an earlier run keeps the day it was last written, so a daily rotation still happens.
    this.#day = dayKey(st.size > 0 ? st.mtimeMs : this.#now());
  }

  #closeFd(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  /** "2026-11-24.3" out of "app.2026-11-24.3.log". */
  #middle(name: string): string {
    return name.slice(this.#stem.length + 1, name.length - this.#ext.length);
  }

  #isRotated(name: string): boolean {
    if (!name.startsWith(`${this.#stem}.`) || !name.endsWith(this.#ext)) return false;
    return /^\d{4}-\d{2}-\d{2}\.\d+$/.test(this.#middle(name));
  }

  #nextRotatedName(day: string): string {
    let n = 1;
    for (const file of this.rotatedFiles()) {
      const middle = this.#middle(basename(file));
      if (middle.startsWith(`${day}.`)) n = Math.max(n, Number(middle.slice(day.length + 1)) + 1);
    }
    return join(this.#dir, `${this.#stem}.${day}.${n}${this.#ext}`);
  }

  #prune(): void {
    if (this.#opts.maxAgeMs <= 0) return;
    const cutoff = this.#now() - this.#opts.maxAgeMs;
    for (const file of this.rotatedFiles()) {
      try {
        if (statSync(file).mtimeMs < cutoff) unlinkSync(file);
      } catch {
        // Another process (a second instance sharing the directory) removed it first: nothing to do.
      }
    }
  }
}
