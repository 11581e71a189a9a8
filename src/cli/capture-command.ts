import { parseArgs } from '../config/args.js';
import { parseSize } from '../config/duration.js';
import { ConfigError } from '../errors.js';
import { BusCapture } from '../replay/bus-capture.js';
import { CaptureWriter, DEFAULT_CAPTURE_MAX_BYTES, DEFAULT_CAPTURE_MAX_FILES } from '../replay/capture-file.js';
import { connectObserverBus, intFlag, stringsFlag, untilSignal } from './bus-connect.js';

export const CAPTURE_HELP = `duet capture --out FILE [--max-size 64MB] [--max-files 5] [--server URL]... [--config DIR] [--set key=value]...
Records the cluster envelopes crossing the bus (gate → node deliveries and events, node → gate operations) into a
capture file (proto/capture.proto), rotated at --max-size into FILE.1 … up to --max-files files. Runs until Ctrl-C.`;

export interface CaptureIo {
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
  });
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
      const capture = await BusCapture.start({ bus, writer, prefix: config.bus.nats.prefix });
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
