import { parseArgs } from '../config/args.js';
import { parseSize } from '../config/duration.js';
import { ConfigError, DuetError, ErrorCode, errorMessage } from '../errors.js';
import { BusCapture } from '../replay/bus-capture.js';
import {
  CaptureWriter,
  DEFAULT_CAPTURE_MAX_BYTES,
  DEFAULT_CAPTURE_MAX_FILES,
  openCapture,
} from '../replay/capture-file.js';
import { CapturePrinter } from '../replay/capture-print.js';
import { connectObserverBus, intFlag, stringsFlag, untilSignal } from './bus-connect.js';

export const CAPTURE_HELP = `duet capture --out FILE [--node ID] [--max-size 64MB] [--max-files 5] [--server URL]... [--config DIR] [--set key=value]...
Records the cluster envelopes crossing the bus (gate → node deliveries and events, node → gate operations; --node:
only that node's) into a capture file (proto/capture.proto), rotated at --max-size into FILE.1 … up to --max-files files. Runs until Ctrl-C.
duet capture print FILE — one line per recorded entry (exit 2 at a truncated or corrupt record, naming its offset).`;

export interface CaptureIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
  signal?: AbortSignal;
}

/** `duet capture`: 0 after Ctrl-C (file flushed), 1 when the bus closed by itself, 2 for bad usage. */
export async function runCapture(argv: string[], io: CaptureIo = {}): Promise<number> {
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const args = parseArgs(argv, {
    out: { type: 'string' },
    'max-size': { type: 'string' },
    'max-files': { type: 'string' },
    server: { type: 'string', multiple: true },
    node: { type: 'string' },
  });
  if (args.command[1] === 'print') return printCapture(args.command.slice(2), io.out, err);
  const path = args.options.out;
  if (typeof path !== 'string' || path === '') {
    err(`duet capture: --out FILE is required\n\n${CAPTURE_HELP}`);
    return 2;
  }
  const sizeText = args.options['max-size'];
  const maxBytes = typeof sizeText === 'string' ? parseSize(sizeText) : DEFAULT_CAPTURE_MAX_BYTES;
  if (maxBytes === undefined || maxBytes < 1024)
    throw new ConfigError('--max-size', sizeText, `--max-size must be a size of at least 1KB, got ${String(sizeText)}`);
  const maxFiles = intFlag('max-files', args.options['max-files']) ?? DEFAULT_CAPTURE_MAX_FILES;
  if (maxFiles < 1) throw new ConfigError('--max-files', maxFiles, `--max-files must be at least 1, got ${maxFiles}`);

  const { bus, config, servers } = await connectObserverBus('capture', argv, stringsFlag(args.options.server));
  const stop = untilSignal(io.signal);
  try {
    const writer = await CaptureWriter.open({
      path,
      maxBytes,
      maxFiles,
      packet: { ...config.packet },
      source: `duet capture ${config.bus.nats.prefix}`,
      reportError: (e, context) => err(`duet capture: ${context}: ${String(e)}`),
    });
    try {
      const nid = typeof args.options.node === 'string' ? args.options.node : undefined;
      const capture = await BusCapture.start({ bus, writer, prefix: config.bus.nats.prefix, nid });
      err(`duet capture: recording ${capture.subjects.join(', ')} on ${servers[0]} into ${path} (Ctrl-C to stop)`);
      const why = await Promise.race([stop.stopped, bus.closed.then((e) => e ?? new Error('bus closed'))]);
      await capture.stop();
      err(`duet capture: ${writer.stats.entries} envelopes written, ${writer.stats.dropped} dropped`);
      return why instanceof Error ? 1 : 0;
    } finally {
      await writer.close();
    }
  } finally {
    stop.dispose();
    await bus.drain().catch(() => {});
  }
}

async function printCapture(
  files: string[],
  io: ((line: string) => void) | undefined,
  err: (line: string) => void,
): Promise<number> {
  // `duet capture print x | head` closes stdout early: stop printing instead of dying on EPIPE.
  let isClosed = false;
  const onStdoutError = (): void => {
    isClosed = true;
  };
  if (!io) process.stdout.once('error', onStdoutError);
  const out = io ?? ((l: string) => (isClosed ? undefined : process.stdout.write(`${l}\n`)));
  if (files.length !== 1) {
    err(`duet capture print: expected one FILE, got ${files.length}\n\n${CAPTURE_HELP}`);
    return 2;
  }
  const path = files[0] as string;
  try {
    const reader = await openCapture(path);
    out(CapturePrinter.headerLine(path, reader.header));
    const printer = new CapturePrinter(reader.header);
    for await (const e of reader) {
      if (isClosed) break;
      out(printer.line(e));
    }
    return 0;
  } catch (e) {
    err(`duet capture print: ${errorMessage(e)}`);
    return e instanceof DuetError && e.code === ErrorCode.CAPTURE_CORRUPT ? 2 : 1;
  } finally {
    process.stdout.off('error', onStdoutError);
  }
}
