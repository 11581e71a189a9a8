import { parseArgs } from '../config/args.js';
import { errorMessage } from '../errors.js';
import type { TransitionRecord } from '../trace/trace.js';
import { formatTransition, formatTransitionJson, TraceStream } from '../trace/trace-stream.js';
import { connectObserverBus, intFlag, stringsFlag, untilSignal } from './bus-connect.js';

export const TRACE_HELP = `duet trace [--uid N] [--cid N] [--gate ID] [--json] [--server URL]... [--config DIR] [--set key=value]...
Prints every session transition published by the cluster's gates (gates need trace.enabled = true), one line each:
  time gate cid uid from → to event (reason)
--uid follows that user's sessions whole (connect records included) across gates; --json prints one object a line.
Reads [bus] from config/gate.toml (or --server). Runs until Ctrl-C.`;

export interface TraceIo {
  /** One output line (stdout by default). */
  out?: (line: string) => void;
  /** Status lines (stderr by default): kept off stdout so --json output stays one object a line. */
  err?: (line: string) => void;
  /** Stops like SIGINT (tests). */
  signal?: AbortSignal;
}

/** `duet trace`: 0 after Ctrl-C, 1 when the bus closed by itself, 2 for bad flags (thrown as ConfigError). */
export async function runTrace(argv: string[], io: TraceIo = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const args = parseArgs(argv, {
    uid: { type: 'string' },
    cid: { type: 'string' },
    gate: { type: 'string' },
    json: { type: 'boolean' },
    server: { type: 'string', multiple: true },
  });
  const uid = intFlag('uid', args.options.uid);
  const cid = intFlag('cid', args.options.cid);
  const gate = typeof args.options.gate === 'string' ? args.options.gate : undefined;
  const format: (t: TransitionRecord) => string = args.options.json ? formatTransitionJson : formatTransition;
  const { bus, config, servers } = await connectObserverBus('trace', argv, stringsFlag(args.options.server));
  const stop = untilSignal(io.signal);
  try {
    const stream = await TraceStream.open({ bus, prefix: config.bus.nats.prefix, gate, uid, cid });
    err(`duet trace: following ${stream.subject} on ${servers[0]} (Ctrl-C to stop)`);
    const reading = (async () => {
      for await (const t of stream) out(format(t));
    })();
    const why = await Promise.race([stop.stopped, bus.closed.then((e) => e ?? new Error('bus closed'))]);
    await stream.close();
    await reading;
    if (why instanceof Error) {
      err(`duet trace: ${errorMessage(why)}`);
      return 1;
    }
    return 0;
  } finally {
    stop.dispose();
    await bus.drain().catch(() => {});
  }
}
