import { type FileHandle, open } from 'node:fs/promises';
import { DuetError, ErrorCode, errorMessage } from '../errors.js';
import { type CaptureEntry, type CaptureHeader, decodeRecordBody } from './capture-records.js';

/** Reading capture files (proto/capture.proto) record by record, naming the byte offset of anything unreadable. */

/** A larger length prefix is taken as corruption rather than an allocation request. */
export const MAX_CAPTURE_RECORD_BYTES = 64 * 1024 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;

/** A capture file that cannot be read: `offset` is where the unreadable record starts. */
export class CaptureCorruptError extends DuetError {
  readonly path: string;
  readonly offset: number;
  constructor(path: string, offset: number, what: string, options?: ErrorOptions) {
    super(ErrorCode.CAPTURE_CORRUPT, `capture ${path}: ${what} at byte offset ${offset}`, options);
    this.name = 'CaptureCorruptError';
    this.path = path;
    this.offset = offset;
  }
}

/** One capture file, read record by record: the header first, then entries. */
export interface CaptureReader extends AsyncIterable<CaptureEntry> {
  readonly path: string;
  readonly header: CaptureHeader;
}

/**
 * Opens a capture file and reads its header. Rejects with CaptureCorruptError (DUET_ERR_CAPTURE_CORRUPT) when the
 * file is empty or does not start with a capture header; iterating rejects the same way, naming the offset, at the
 * first truncated or corrupt record. Each iteration reads the file again from the start.
 */
export async function openCapture(path: string): Promise<CaptureReader> {
  let header: CaptureHeader | undefined;
  for await (const r of readRecords(path)) {
    if (!('header' in r.record)) throw new CaptureCorruptError(path, r.offset, 'expected the capture header first');
    header = r.record.header;
    break;
  }
  if (!header) throw new CaptureCorruptError(path, 0, 'empty file, expected the capture header');
  const h = header;
  return {
    path,
    header: h,
    async *[Symbol.asyncIterator]() {
      let first = true;
      for await (const r of readRecords(path)) {
        if (first) {
          first = false;
          continue;
        }
        // A later header (files concatenated) starts a new segment with the same layout rules; entries follow.
        if ('entry' in r.record) yield r.record.entry;
      }
    },
  };
}

/** The whole file in memory (fixtures, tests, replay). */
export async function loadCapture(path: string): Promise<{ header: CaptureHeader; entries: CaptureEntry[] }> {
  const reader = await openCapture(path);
  const entries: CaptureEntry[] = [];
  for await (const e of reader) entries.push(e);
  return { header: reader.header, entries };
}

type Located = { offset: number; record: ReturnType<typeof decodeRecordBody> };

/** Length-delimited records with their byte offsets, read in chunks so a large file never sits in memory whole. */
async function* readRecords(path: string): AsyncGenerator<Located> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new DuetError(ErrorCode.CAPTURE_CORRUPT, `capture ${path}: cannot open: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  try {
    let buf = Buffer.alloc(0);
    let bufStart = 0; // file offset of buf[0]
    let eof = false;
    const fill = async (need: number): Promise<boolean> => {
      while (buf.length < need && !eof) {
        const chunk = Buffer.alloc(Math.max(READ_CHUNK_BYTES, need - buf.length));
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, bufStart + buf.length);
        if (bytesRead === 0) eof = true;
        else buf = Buffer.concat([buf, chunk.subarray(0, bytesRead)]);
      }
      return buf.length >= need;
    };
    for (;;) {
      await fill(1);
      if (buf.length === 0) return;
      const offset = bufStart;
      // Varint length prefix: at most 5 bytes for a 32-bit count.
      let len = 0;
      let prefixBytes = 0;
      for (;;) {
        if (!(await fill(prefixBytes + 1)))
          throw new CaptureCorruptError(path, offset, 'truncated record: the file ends inside the length prefix');
        const b = buf[prefixBytes] as number;
        len += (b & 0x7f) * 2 ** (7 * prefixBytes);
        prefixBytes++;
        if ((b & 0x80) === 0) break;
        if (prefixBytes >= 5)
          throw new CaptureCorruptError(path, offset, 'corrupt length prefix: more than 5 varint bytes');
      }
      if (len > MAX_CAPTURE_RECORD_BYTES)
        throw new CaptureCorruptError(
          path,
          offset,
          `corrupt length prefix: declares ${len} bytes, more than the ${MAX_CAPTURE_RECORD_BYTES} a record may have`,
        );
      if (!(await fill(prefixBytes + len)))
        throw new CaptureCorruptError(
          path,
          offset,
          `truncated record: declares ${len} bytes but the file ends after ${buf.length - prefixBytes}`,
        );
      const body = buf.subarray(prefixBytes, prefixBytes + len);
      let record: ReturnType<typeof decodeRecordBody>;
      try {
        record = decodeRecordBody(body);
      } catch (err) {
        throw new CaptureCorruptError(path, offset, `corrupt record (${errorMessage(err)})`, { cause: err });
      }
      buf = buf.subarray(prefixBytes + len);
      bufStart += prefixBytes + len;
      yield { offset, record };
    }
  } finally {
    await fh.close();
  }
}
