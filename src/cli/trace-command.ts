import { parseArgs } from '../config/args.js';
import { ConfigError, errorMessage } from '../errors.js';
import { LeaseHolder } from '../trace/lease-holder.js';
import type { TransitionRecord } from '../trace/trace.js';
import { DEFAULT_TRACE_LEASE_MS } from '../trace/trace-leases.js';
import { formatTransition, formatTransitionJson, TraceStream } from '../trace/trace-stream.js';
import { connectObserverBus, intFlag, stringsFlag, untilSignal } from './bus-connect.js';

export const TRACE_HELP = `duet trace [--uid N] [--cid N] [--gate ID] [--sample F] [--lease MS] [--json] [--server URL]... [--config DIR] [--set key=value]...
Prints the session transitions of the cluster's gates, one line each:
  time gate cid uid from → to event (reason)
Gates need no restart: duet trace holds a lease on the trace control subject, renewed every third of --lease
(default ${DEFAULT_TRACE_LEASE_MS} ms); gates publish what the filters match while it lives and stop when it lapses.
--uid follows that user's sessions whole (connect records included) across gates; --sample traces that fraction of
connections (0..1); --json prints one object a line. Says how many gates answered; warns when none did.
Reads [bus] from config/gate.toml (or --server). Runs until Ctrl-C.`;

/** How long the first answers are awaited before the "gates answered" line. */
const ANSWER_WINDOW_MS = 1000;

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
    sample: { type: 'string' },
    lease: { type: 'string' },
  });
  const uid = intFlag('uid', args.options.uid);
  const cid = intFlag('cid', args.options.cid);
  const gate = typeof args.options.gate === 'string' ? args.options.gate : undefined;
  const sample = args.options.sample === undefined ? 1 : Number(args.options.sample);
  if (!(sample > 0 && sample <= 1))
    throw new ConfigError(
      '--sample',
      args.options.sample,
      `--sample must be in (0, 1], got ${String(args.options.sample)}`,
    );
  const ttlMs = intFlag('lease', args.options.lease) ?? DEFAULT_TRACE_LEASE_MS;
  if (ttlMs < 200) throw new ConfigError('--lease', ttlMs, `--lease must be at least 200 (ms), got ${ttlMs}`);
  const format: (t: TransitionRecord) => string = args.options.json ? formatTransitionJson : formatTransition;
  const { bus, config, servers } = await connectObserverBus('trace', argv, stringsFlag(args.options.server));
  const stop = untilSignal(io.signal);
  try {
    const stream = await TraceStream.open({ bus, prefix: config.bus.nats.prefix, gate, uid, cid });
    err(`duet trace: following ${stream.subject} on ${servers[0]} (Ctrl-C to stop)`);
    const reading = (async () => {
      for await (const t of stream) out(format(t));
    })();
    let counted = false;
    const holder = await LeaseHolder.open({
      bus,
      prefix: config.bus.nats.prefix,
      uid,
      cid,
      gate,
      sample,
      ttlMs,
      onGate: (g) => {
        if (g.refused) err(`duet trace: gate ${g.gate} refused the lease (too many tracers)`);
        else if (counted) err(`duet trace: gate ${g.gate} (${g.name}) joined`);
      },
    });
    const window = setTimeout(() => {
      counted = true;
      const n = holder.gates.size;
      if (n === 0)
        err(
          `duet trace: warning: no gate answered on the trace control subject${gate ? ` (gate ${gate})` : ''}; is the cluster on this bus and prefix?`,
        );
      else err(`duet trace: ${n} gate${n === 1 ? '' : 's'} answered (${[...holder.gates.keys()].join(', ')})`);
    }, ANSWER_WINDOW_MS);
    const why = await Promise.race([stop.stopped, bus.closed.then((e) => e ?? new Error('bus closed'))]);
    clearTimeout(window);
    await holder.close();
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
