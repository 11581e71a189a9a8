/**
 * Command-line parsing shared by every duet command: `--config DIR`, `--mode M`, `--set key=value` (repeatable),
 * `--app MODULE`, `--help`/`-h`, plus any command-specific options, and the positional command words.
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { redactUrlCredentials } from '../log/redact.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

export interface CliArgs {
  /** Positional words: `['gate']`, `['config', 'print']`. */
  command: string[];
  /** `--config DIR`: the directory holding gate.toml / node.toml / dev.toml. */
  config?: string;
  /** `--etc DIR`: due's etc directory (etc.toml), read as due writes it. */
  etc?: string;
  /** `--mode debug|test|release` (validated by loadConfig, not here). */
  mode?: string;
  /** Every `--set dotted.key=value`, in order (later wins). */
  set: string[];
  /** `--app MODULE`: the node application module. */
  app?: string;
  help: boolean;
  /** Values of the command-specific options passed in `extra`. */
  options: Record<string, string | boolean | string[] | undefined>;
}

const BASE_OPTIONS = {
  config: { type: 'string' },
  etc: { type: 'string' },
  mode: { type: 'string' },
  set: { type: 'string', multiple: true },
  app: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Parses argv (without the node and script paths). Unknown options throw a ConfigError naming the flag, so the CLI
 * exits 2 with one line. `strict: false` skips that check (loadConfig uses it to pick out only its own flags).
 */
export function parseArgs(
  argv: readonly string[],
  extra: Record<string, OptionSpec> = {},
  { strict = true }: { strict?: boolean } = {},
): CliArgs {
  let parsed: ReturnType<typeof parseNodeArgs>;
  try {
    parsed = parseNodeArgs({
      args: [...argv],
      options: { ...extra, ...BASE_OPTIONS },
      allowPositionals: true,
      strict,
    });
  } catch (err) {
    // Node's text goes on about "--" for positionals; the first sentence is the useful part.
    const full = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
    const message = full.replace(/\. To specify a positional argument.*$/, '');
    // argv may hold a secret (`--set bus.nats.pass=…`): it is not kept on the error
    throw new ConfigError('argv', undefined, redactUrlCredentials(`flag: ${message}`), { cause: err });
  }
  const v = parsed.values;
  const options: CliArgs['options'] = {};
  for (const name of Object.keys(extra)) {
    const value = v[name];
    if (typeof value === 'string' || typeof value === 'boolean') options[name] = value;
    else if (Array.isArray(value)) options[name] = value.filter((x): x is string => typeof x === 'string');
  }
  const sets = Array.isArray(v.set) ? v.set.filter((x): x is string => typeof x === 'string') : [];
  const args: CliArgs = { command: [...parsed.positionals], set: sets, help: v.help === true, options };
  const config = str(v.config);
  const mode = str(v.mode);
  const app = str(v.app);
  if (config !== undefined) args.config = config;
  const etc = str(v.etc);
  if (etc !== undefined) args.etc = etc;
  if (mode !== undefined) args.mode = mode;
  if (app !== undefined) args.app = app;
  return args;
}
