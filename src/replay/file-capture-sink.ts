import { CaptureWriter, type CaptureWriterOptions } from './capture-file.js';
import { closeData } from './capture-records.js';
import type { CaptureDirection, CaptureSink } from './capture-sink.js';

/**
 * A gate's CaptureSink that writes client packets to a capture file (bounded, rotated; see CaptureWriter). The
 * packet bytes are encoded into the record during the call, so the gate's view may be reused right after.
 */
export class FileCaptureSink implements CaptureSink, AsyncDisposable {
  readonly enabled = true;
  readonly writer: CaptureWriter;

  constructor(writer: CaptureWriter) {
    this.writer = writer;
  }

  /** Opens the file (rotating an existing one away). Rejects when it cannot be created. */
  static async open(o: CaptureWriterOptions): Promise<FileCaptureSink> {
    return new FileCaptureSink(await CaptureWriter.open(o));
  }

  packet(direction: CaptureDirection, gid: string, cid: number, uid: number, bytes: Uint8Array): void {
    this.writer.write({ direction, gid, nid: '', cid, uid, kind: 'packet', data: bytes, subject: '' });
  }

  closed(gid: string, cid: number, uid: number, code: number, reason: string): void {
    const data = closeData(code, reason);
    this.writer.write({ direction: 'out', gid, nid: '', cid, uid, kind: 'close', data, subject: '' });
  }

  /** Resolves when everything captured so far is on disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /** Flushes and closes the file; later packets are dropped. Safe to call twice. */
  close(): Promise<void> {
    return this.writer.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
