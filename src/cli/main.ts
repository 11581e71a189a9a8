/**
 * argv → command. The only place that touches process signals and exit codes (docs/contributing.md).
 * Exit codes: 0 ok (including a graceful stop), 1 runtime failure, 2 bad usage or configuration,
 * 130 a second signal forced the exit.
 */
import { parseArgs } from '../config/args.js';
import { loadConfig } from '../config/load.js';
import { formatConfig } from '../config/print.js';
import type { Role } from '../config/schema.js';
import { DuetError, ErrorCode, errorMessage } from '../errors.js';
import { redactUrlCredentials } from '../log/redact.js';

const HELP: Record<string, string> = {
  main: `duet — a due-compatible gateway and node cluster

Usage: duet <command> [options]

Commands:
  dev            gate + demo node in one process on the in-process bus, locator and registry
  gate           a gate (config/gate.toml)
  node           a node running an app (config/node.toml; --app MODULE, default the demo app)
  mesh           a process that only provides services to nodes (config/node.toml; --app MODULE)
  config print   the effective configuration with the source of every value
  trace          live session transitions from every gate, over NATS (--uid N --cid N --gate ID --json)
  status         every gate and node of the running cluster (--json); see duet status --help
  locate UID     the gate, nodes and cids of a user
  sessions       the sessions of one gate (--gate ID)
  kick UID       close a user's session ([--force])
  drain ID       a gate or node goes to hang (no new traffic, its sessions go on)
  capture        record the bus envelopes to a capture file (--out FILE)
  replay FILE    re-send a capture's client side to a gate and diff the answers (--url ws://… [--fast])

Options (every command):
  --config DIR        directory of gate.toml / node.toml / dev.toml (env DUET_CONFIG)
  --etc DIR           due's etc directory: etc.toml read as due writes it (env DUE_ETC)
  --mode MODE         debug | test | release (env DUET_MODE)
  --set key=value     override one key, value in TOML syntax (repeatable); env DUET__SECTION__KEY=value
  -h, --help          this help

Exit codes: 0 ok, 1 runtime failure (replay: a mismatch), 2 bad usage, configuration or capture file,
130 forced by a second signal.`,
  dev: `duet dev [--set key=value]...  — gate and demo node in one process, no external server.
Listens on network.ws.server.addr (default :3553).`,
  gate: 'duet gate [--config DIR] [--set key=value]...  — runs a gate with config/gate.toml.',
  node: 'duet node [--app MODULE] [--config DIR] [--set key=value]...  — runs a node app (default: the demo app).',
  mesh: "duet mesh --app MODULE [--config DIR] [--set key=value]...  — provides the app's services (mesh RPC), no routes.",
  config:
    'duet config print [--role gate|node|dev] — prints the effective configuration and where each value came from.',
};

/**
 * Commands with options of their own: they parse the whole argv (command word first). Each is imported when it
 * runs, as is the gate and node code, so `duet --help` loads no bus or socket library.
 */
interface Observer {
  run: (argv: string[]) => Promise<number>;
  help: string;
}
const OBSERVERS: Record<string, () => Promise<Observer>> = {
  trace: async () => {
    const m = await import('./trace-command.js');
    return { run: m.runTrace, help: m.TRACE_HELP };
  },
  replay: async () => {
    const m = await import('./replay-command.js');
    return { run: m.runReplay, help: m.REPLAY_HELP };
  },
  ...Object.fromEntries(
    ['status', 'locate', 'sessions', 'kick', 'drain'].map((c) => [
      c,
      async () => {
        const m = await import('./admin-command.js');
        return { run: m.runAdmin, help: m.ADMIN_HELP };
      },
    ]),
  ),
  capture: async () => {
    const m = await import('./capture-command.js');
    return { run: m.runCapture, help: m.CAPTURE_HELP };
  },
};

async function main(argv: string[]): Promise<number> {
  const loadObserver = OBSERVERS[argv[0] ?? ''];
  if (loadObserver) {
    const observer = await loadObserver();
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(observer.help);
      return 0;
    }
    return observer.run(argv);
  }
  const args = parseArgs(argv, { role: { type: 'string' } });
  const [command, sub] = args.command;
  if (!command || (args.help && !command)) {
    console.log(HELP.main);
    return command ? 0 : args.help ? 0 : 2;
  }
  if (args.help) {
    console.log(HELP[command] ?? HELP.main);
    return 0;
  }
  switch (command) {
    case 'dev':
    case 'gate':
    case 'node':
    case 'mesh':
      return (await import('./run.js')).runServices(command, argv, args.app);
    case 'config': {
      if (sub !== 'print') {
        console.error(`duet config: unknown subcommand ${sub ?? '(none)'}; try: duet config print`);
        return 2;
      }
      const role = (args.options.role as Role | undefined) ?? 'dev';
      const loaded = loadConfig({ role, argv });
      console.log(formatConfig(loaded));
      return 0;
    }
    default:
      console.error(`duet: unknown command ${command}\n\n${HELP.main}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof DuetError && (err.code === ErrorCode.CONFIG_INVALID || err.code === ErrorCode.CAPTURE_CORRUPT)) {
      console.error(`duet: ${redactUrlCredentials(err.message)}`);
      process.exit(2);
    }
    console.error(`duet: ${redactUrlCredentials(errorMessage(err))}`);
    if (err instanceof Error && err.stack && process.env.DUET_DEBUG) console.error(err.stack);
    process.exit(1);
  },
);
