import { type FileHandle, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import type { ErrorReporter } from '../errors.js';
import { type PacketOptions, packetOptions } from '../packet/options.js';
import {
  CAPTURE_VERSION,
  type CaptureEntry,
  type CaptureHeader,
  encodeEntryRecord,
  encodeHeaderRecord,
} from './capture-records.js';

/**
 * Capture files (proto/capture.proto): a writer bounded in size with rotation, and a reader that names the byte
 * offset of whatever it cannot read.
 */

export const DEFAULT_CAPTURE_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CAPTURE_MAX_FILES = 5;
/** What may wait in memory for the disk; past it new entries are dropped and counted, never blocking the caller. */
export const DEFAULT_CAPTURE_MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** `x.capture` → `x.1.capture`; a name without the extension gets `.1` appended. */
export function rotatedCaptureName(path: string, index: number): string {
  if (index === 0) return path;
  const ext = extname(path);
  return ext ? `${path.slice(0, -ext.length)}.${index}${ext}` : `${path}.${index}`;
}

/** The files of a rotated capture, oldest first (`x.3.capture`, `x.2.capture`, `x.1.capture`, `x.capture`). */
export async function listCaptureFiles(path: string): Promise<string[]> {
  const names = new Set(await readdir(dirname(path)));
  const has = (p: string): boolean => names.has(basename(p));
  const found: string[] = [];
  for (let i = 1; has(rotatedCaptureName(path, i)); i++) found.unshift(rotatedCaptureName(path, i));
  if (has(path)) found.push(path);
  return found;
}

export interface CaptureWriterOptions {
  path: string;
  /** Largest size of one file, header included. Default 64 MiB. */
  maxBytes?: number;
  /** Files kept, the current one included (`maxBytes × maxFiles` bounds the disk use). Default 5. */
  maxFiles?: number;
  /** The packet layout written into each header. */
  packet?: Partial<PacketOptions>;
  /** Who writes, for the header (e.g. `gate <gid>`). */
  source?: string;
  maxPendingBytes?: number;
  /** Write failures after open (disk full…): the writer stops and reports once. */
  reportError?: ErrorReporter;
}

export type CaptureEntryInput = Omit<CaptureEntry, 'tsMs' | 'monoNs'> & { tsMs?: number };

export interface CaptureWriterStats {
  entries: number;
  /** Entries not written: over the pending bound, larger than a file, after close or after a write failure. */
  dropped: number;
  rotations: number;
}

const ROTATE = Symbol('rotate');

/**
 * Appends entries to a capture file. `write` is synchronous and never throws (it encodes and queues); the disk
 * work runs one flush at a time after the current event-loop turn. An existing file at `path` is rotated away on
 * open, never overwritten.
 */
export class CaptureWriter implements AsyncDisposable {
  readonly path: string;
  readonly stats: CaptureWriterStats = { entries: 0, dropped: 0, rotations: 0 };
  readonly #maxBytes: number;
  readonly #maxFiles: number;
  readonly #maxPendingBytes: number;
  readonly #header: CaptureHeader;
  readonly #reportError: ErrorReporter;
  readonly #startNs = process.hrtime.bigint();
  readonly #headerBytes: number;
  #fh: FileHandle;
  /** Logical size of the current file including what is still queued: rotation is decided at write time. */
  #fileBytes: number;
  #queue: (Uint8Array | typeof ROTATE)[] = [];
  #pendingBytes = 0;
  /** Entries accepted and not yet on disk: counted as dropped if the disk fails. */
  #unwritten = 0;
  #immediate: NodeJS.Immediate | undefined;
  #flushing: Promise<void> | undefined;
  #failed = false;
  #closing: Promise<void> | undefined;

  private constructor(fh: FileHandle, o: Required<Omit<CaptureWriterOptions, 'packet'>>, header: CaptureHeader) {
    this.path = o.path;
    this.#fh = fh;
    this.#maxBytes = o.maxBytes;
    this.#maxFiles = o.maxFiles;
    this.#maxPendingBytes = o.maxPendingBytes;
    this.#reportError = o.reportError;
    this.#header = header;
    // created_ms is a varint of a current timestamp, so every header of this writer has this size.
    this.#headerBytes = encodeHeaderRecord(header).length;
    this.#fileBytes = this.#headerBytes;
  }

  /** Opens (rotating an existing file away) and writes the header. Rejects when the file cannot be created. */
  static async open(o: CaptureWriterOptions): Promise<CaptureWriter> {
    const maxBytes = o.maxBytes ?? DEFAULT_CAPTURE_MAX_BYTES;
    const maxFiles = o.maxFiles ?? DEFAULT_CAPTURE_MAX_FILES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024)
      throw new RangeError(`capture maxBytes must be an integer >= 1024, got ${maxBytes}`);
    if (!Number.isSafeInteger(maxFiles) || maxFiles < 1)
      throw new RangeError(`capture maxFiles must be an integer >= 1, got ${maxFiles}`);
    const header: CaptureHeader = {
      version: CAPTURE_VERSION,
      packet: packetOptions(o.packet),
      createdMs: Date.now(),
      source: o.source ?? '',
    };
    const exists = await stat(o.path).then(
      (s) => s.size > 0,
      () => false,
    );
    if (exists) await rotateFiles(o.path, maxFiles);
    const fh = await open(o.path, 'w');
    const w = new CaptureWriter(
      fh,
      {
        path: o.path,
        maxBytes,
        maxFiles,
        source: header.source,
        maxPendingBytes: o.maxPendingBytes ?? DEFAULT_CAPTURE_MAX_PENDING_BYTES,
        reportError: o.reportError ?? (() => {}),
      },
      header,
    );
    try {
      await w.#writeHeader();
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    return w;
  }

  /** Each file starts with a header, so every rotated file reads on its own. */
  async #writeHeader(): Promise<void> {
    await this.#fh.write(encodeHeaderRecord({ ...this.#header, createdMs: Date.now() }));
  }

  /** Queues one entry (the bytes are copied by encoding, the caller keeps its buffer). Never throws. */
  write(e: CaptureEntryInput): void {
    if (this.#closing || this.#failed) {
      this.stats.dropped++;
      return;
    }
    const record = encodeEntryRecord({
      ...e,
      tsMs: e.tsMs ?? Date.now(),
      monoNs: Number(process.hrtime.bigint() - this.#startNs),
    });
    if (
      record.length + this.#headerBytes > this.#maxBytes ||
      this.#pendingBytes + record.length > this.#maxPendingBytes
    ) {
      this.stats.dropped++;
      return;
    }
    if (this.#fileBytes + record.length > this.#maxBytes) {
      this.#queue.push(ROTATE);
      this.#fileBytes = this.#headerBytes;
    }
    this.#queue.push(record);
    this.#fileBytes += record.length;
    this.#pendingBytes += record.length;
    this.#unwritten++;
    this.stats.entries++;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#immediate || this.#flushing) return;
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      this.#startFlush();
    });
  }

  #startFlush(): Promise<void> {
    if (!this.#flushing) {
      this.#flushing = this.#drain()
        .catch((err: unknown) => {
          this.#failed = true;
          this.stats.dropped += this.#unwritten;
          this.#unwritten = 0;
          this.#queue = [];
          this.#pendingBytes = 0;
          this.#reportError(err, `capture file ${this.path}`);
        })
        .finally(() => {
          this.#flushing = undefined;
          if (this.#queue.length > 0 && !this.#failed) this.#schedule();
        });
    }
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      // Take the whole queue at once: writes during the awaits below start a new one.
      const items = this.#queue;
      this.#queue = [];
      let batch: Uint8Array[] = [];
      for (const item of items) {
        if (item !== ROTATE) {
          batch.push(item);
          continue;
        }
        await this.#writeBatch(batch);
        batch = [];
        await this.#fh.close();
        await rotateFiles(this.path, this.#maxFiles);
        this.#fh = await open(this.path, 'w');
        await this.#writeHeader();
        this.stats.rotations++;
      }
      await this.#writeBatch(batch);
    }
  }

  async #writeBatch(batch: Uint8Array[]): Promise<void> {
    if (batch.length === 0) return;
    const buf = Buffer.concat(batch);
    await this.#fh.write(buf);
    this.#pendingBytes -= buf.length;
    this.#unwritten -= batch.length;
  }

  /** Resolves when everything queued so far is on disk (or dropped after a failure). */
  async flush(): Promise<void> {
    if (this.#immediate) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
    while (this.#queue.length > 0 || this.#flushing) {
      if (this.#failed) return;
      await this.#startFlush();
    }
  }

  /** Flushes and closes the file. Safe to call twice; later writes are dropped. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.flush();
      await this.#fh.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** x.(n-2) → x.(n-1) … x → x.1; the oldest beyond maxFiles is deleted. */
async function rotateFiles(path: string, maxFiles: number): Promise<void> {
  if (maxFiles <= 1) {
    await rm(path, { force: true });
    return;
  }
  await rm(rotatedCaptureName(path, maxFiles - 1), { force: true });
  for (let i = maxFiles - 2; i >= 0; i--) {
    const from = rotatedCaptureName(path, i);
    await rename(from, rotatedCaptureName(path, i + 1)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

export {
  CaptureCorruptError,
  type CaptureReader,
  loadCapture,
  MAX_CAPTURE_RECORD_BYTES,
  openCapture,
} from './capture-reader.js';
