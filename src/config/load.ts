/**
 * Builds the effective configuration: code defaults < config/{role}.toml < environment (`DUET__SECTION__KEY`,
 * `DUET_MODE`) < flags (`--set key=value`, `--mode`). Every value is validated when it is applied, so a bad value
 * is reported even if a later source overrides it; the error is one line naming the source and the allowed values.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError } from '../errors.js';
import { redactUrlCredentials } from '../log/redact.js';
import { packageUrl } from '../package-root.js';
import { parseArgs } from './args.js';
import { readDueEtc } from './due-etc.js';
import { isField, outputKey, type SchemaSection } from './fields.js';
import { allFields, resolveKey } from './keys.js';
import { checkCrossFields } from './rules.js';
import { type DuetConfig, type Role, SCHEMA } from './schema.js';
import { coerce, type FieldValue, keptValue, showValue } from './validate.js';

export { type CliArgs, type OptionSpec, parseArgs } from './args.js';

/** The repository's config/ directory, used when neither --config nor DUET_CONFIG names one. */
export const DEFAULT_CONFIG_DIR = fileURLToPath(packageUrl('config/'));

export interface LoadOptions {
  role: Role;
  /** Command-line arguments (without node and script paths); only --config, --mode and --set are read here. */
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Base for relative paths (--config, DUET_CONFIG) and for naming files in messages. */
  cwd?: string;
}

export interface LoadedConfig {
  config: DuetConfig;
  /** Dotted input key (`network.ws.server.heartbeatInterval`, `cluster.gate.metadata.region`) → where its value came from. */
  sources: Map<string, string>;
  /** The config file read, if any (absolute path). */
  file: string | undefined;
  role: Role;
  /** due's etc file read (`--etc` / `DUE_ETC`), if any (absolute path). */
  etcFile?: string;
  /** Non-fatal findings to log once at start-up (due etc keys duet ignores). */
  warnings: string[];
}

/** Where a value came from: `label` goes into `sources`; `at(key)` names it in error messages. */
interface Origin {
  label: string;
  at(key: string): string;
}

/** How a message names a key from a source: `config/gate.toml:packet.routeBytes`, `env DUET__X: packet.routeBytes`. */
export function describeSource(label: string, key: string): string {
  if (label === 'default') return `default ${key}`;
  return label.startsWith('env ') || label.startsWith('flag ') ? `${label}: ${key}` : `${label}:${key}`;
}

const fileOrigin = (shown: string): Origin => ({ label: shown, at: (key) => describeSource(shown, key) });
const namedOrigin = (label: string): Origin => ({ label, at: (key) => describeSource(label, key) });

interface Slot {
  value: FieldValue;
  source: string;
}

class Assembly {
  readonly values = new Map<string, Slot>();
  /** Per-entry sources of map fields (metadata), keyed `cluster.gate.metadata.region`. */
  readonly entrySources = new Map<string, string>();
  /** Keys set by the layer being applied, to catch a key and its alias disagreeing inside one source. */
  #layer = new Map<string, { value: FieldValue; at: string; name: string }>();

  constructor() {
    for (const { key, field } of allFields()) {
      if (field.kind === 'map') {
        this.values.set(key, { value: {}, source: 'default' });
        continue;
      }
      // Duration and size defaults are already ms and bytes; the rest go through the same checks as user values.
      if (field.kind === 'duration' || field.kind === 'size') {
        this.values.set(key, { value: field.default, source: 'default' });
        continue;
      }
      const r = coerce(field, field.default);
      if (!r.ok) throw new Error(`schema default of ${key} is invalid: ${r.rule}`); // a bug in schema.ts, not user input
      this.values.set(key, { value: r.value, source: 'default' });
    }
  }

  startLayer(): void {
    this.#layer.clear();
  }

  /** Applies one value at `segments` (a field, a map entry, or a whole section given as a table). */
  apply(segments: readonly string[], raw: unknown, text: string | undefined, origin: Origin, ci: boolean): void {
    const ref = resolveKey(segments, ci);
    const shownKey = ref.kind === 'field' && ref.alias ? ref.alias : ref.key;
    switch (ref.kind) {
      case 'unknown':
        // The value is left out: a mistyped key may hold a password.
        throw new ConfigError(ref.key, undefined, `${origin.at(ref.key)} ${ref.hint}`);
      case 'section': {
        if (!isTable(raw)) {
          throw new ConfigError(
            ref.key,
            keptValue(raw),
            `${origin.at(ref.key)} is a section; give a table, got ${showValue(raw)}`,
          );
        }
        for (const [k, v] of Object.entries(raw)) this.apply([...ref.key.split('.'), k], v, undefined, origin, false);
        return;
      }
      case 'entry': {
        const value = typeof raw === 'string' ? raw : text;
        if (value === undefined) {
          throw new ConfigError(
            `${ref.key}.${ref.entry}`,
            keptValue(raw),
            `${origin.at(`${ref.key}.${ref.entry}`)} must be a string, got ${showValue(raw)}`,
          );
        }
        const slot = this.values.get(ref.key) as Slot;
        slot.value = { ...(slot.value as Record<string, string>), [ref.entry]: value };
        this.entrySources.set(`${ref.key}.${ref.entry}`, origin.label);
        return;
      }
      case 'field': {
        const r = coerce(ref.field, raw, text);
        if (!r.ok) {
          const got = showValue(raw === undefined ? text : raw, ref.field.secret);
          const kept = keptValue(raw, ref.field.secret); // errors get logged with their fields
          throw new ConfigError(ref.key, kept, `${origin.at(shownKey)} must be ${r.rule}, got ${got}`);
        }
        const earlier = this.#layer.get(ref.key);
        // Repeating a key is fine (the later wins); a key and its alias disagreeing in one source is a mistake.
        if (earlier !== undefined && earlier.name !== shownKey && !sameValue(earlier.value, r.value)) {
          const kept = keptValue(raw, ref.field.secret);
          throw new ConfigError(
            ref.key,
            kept,
            `${origin.at(shownKey)} conflicts with ${earlier.at} in the same source`,
          );
        }
        this.#layer.set(ref.key, { value: r.value, at: origin.at(shownKey), name: shownKey });
        if (ref.field.kind === 'map') {
          for (const k of this.entrySources.keys()) if (k.startsWith(`${ref.key}.`)) this.entrySources.delete(k);
        }
        this.values.set(ref.key, { value: r.value, source: origin.label });
        return;
      }
    }
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function sameValue(a: FieldValue, b: FieldValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A value from env or a flag: TOML when it parses (`3`, `true`, `["a"]`, `"x"`), else the literal text (`10s`, `:3553`). */
function parseLiteral(text: string): unknown {
  try {
    const doc = parseToml(`v = ${text}`);
    return Object.hasOwn(doc, 'v') ? doc.v : text;
  } catch {
    return text;
  }
}

function shownPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : file;
}

function readConfigFile(asm: Assembly, file: string, cwd: string): void {
  const shown = shownPath(file, cwd);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(file, 'utf8'));
  } catch (err) {
    const what =
      err instanceof TomlError ? `line ${err.line} column ${err.column}: ${firstLine(err.message)}` : String(err);
    throw new ConfigError(shown, undefined, `${shown}: cannot read TOML, ${what}`, { cause: err });
  }
  asm.startLayer();
  const origin = fileOrigin(shown);
  for (const [k, v] of Object.entries(doc)) asm.apply([k], v, undefined, origin, false);
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/^Invalid TOML document: /, '');
}

const ENV_PREFIX = 'DUET__';

function applyEnv(asm: Assembly, env: NodeJS.ProcessEnv): void {
  asm.startLayer();
  const names = Object.keys(env)
    .filter((n) => n.toUpperCase().startsWith(ENV_PREFIX))
    .sort();
  for (const name of names) {
    const text = env[name] ?? '';
    const segments = name.slice(ENV_PREFIX.length).split('__');
    asm.apply(segments, parseLiteral(text), text, namedOrigin(`env ${name}`), true);
  }
  asm.startLayer(); // DUET_MODE overrides DUET__MODE rather than conflicting with it
  const mode = env.DUET_MODE;
  if (mode !== undefined && mode !== '') asm.apply(['mode'], mode, mode, namedOrigin('env DUET_MODE'), false);
}

function applyFlags(asm: Assembly, sets: readonly string[], mode: string | undefined): void {
  asm.startLayer();
  for (const set of sets) {
    const eq = set.indexOf('=');
    if (eq <= 0) {
      const shown = redactUrlCredentials(set);
      throw new ConfigError('argv', shown, `flag --set ${shown}: expected dotted.key=value`);
    }
    const key = set.slice(0, eq).trim();
    const text = set.slice(eq + 1);
    const ref = resolveKey(key.split('.'), true);
    // The flag text names the source in messages and `config print`: no secret and no URL password in it.
    const hidden = ref.kind === 'field' && ref.field.secret ? '***' : redactUrlCredentials(text);
    asm.apply(key.split('.'), parseLiteral(text), text, namedOrigin(`flag --set ${key}=${hidden}`), true);
  }
  asm.startLayer(); // --mode overrides --set mode=…
  if (mode !== undefined) asm.apply(['mode'], mode, mode, namedOrigin(`flag --mode ${mode}`), false);
}

function build(section: SchemaSection, prefix: string, values: Map<string, Slot>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, node] of Object.entries(section)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (isField(node)) out[outputKey(name, node)] = (values.get(key) as Slot).value;
    else out[name] = build(node, key, values);
  }
  return out;
}

/** Loads, merges and validates. Throws ConfigError (one line, naming the source) on any bad input. */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const args = parseArgs(opts.argv ?? [], {}, { strict: false });
  const chosenDir = args.config ?? (env.DUET_CONFIG === '' ? undefined : env.DUET_CONFIG);
  // due's etc directory: only when asked for (due's own default ./etc is not read implicitly).
  const etcDir = args.etc ?? (env.DUE_ETC === '' ? undefined : env.DUE_ETC);
  const dir = chosenDir === undefined ? DEFAULT_CONFIG_DIR : resolve(cwd, chosenDir);
  const candidate = join(dir, `${opts.role}.toml`);
  let file: string | undefined;
  // With an etc directory and no duet config named, the bundled files stay out: the etc file is the deployment's.
  if (etcDir !== undefined && chosenDir === undefined) file = undefined;
  else if (existsSync(candidate)) file = candidate;
  else if (chosenDir !== undefined) {
    const how = args.config !== undefined ? `--config ${args.config}` : `env DUET_CONFIG=${chosenDir}`;
    throw new ConfigError('config', chosenDir, `${how}: no ${opts.role}.toml in ${dir}`);
  }

  const asm = new Assembly();
  if (file !== undefined) readConfigFile(asm, file, cwd);
  const warnings: string[] = [];
  let etcFile: string | undefined;
  if (etcDir !== undefined) {
    const how = args.etc !== undefined ? `--etc ${args.etc}` : `env DUE_ETC=${etcDir}`;
    const etc = readDueEtc(resolve(cwd, etcDir), shownPath(resolve(cwd, etcDir), cwd), how);
    etcFile = etc.file;
    asm.startLayer();
    for (const s of etc.settings) {
      const label = s.label ?? 'etc';
      asm.apply(s.key.split('.'), s.value, undefined, fileOrigin(label), false);
    }
    if (etc.warning) warnings.push(etc.warning);
  }
  applyEnv(asm, env);
  applyFlags(asm, args.set, args.mode);

  const sources = new Map<string, string>();
  for (const [key, slot] of asm.values) sources.set(key, slot.source);
  for (const [key, source] of asm.entrySources) sources.set(key, source);
  // The typed view of what build() assembled from SCHEMA: every key was validated by coerce() above.
  const config = build(SCHEMA, '', asm.values) as unknown as DuetConfig;
  checkCrossFields(config, (key) => describeSource(sources.get(key) ?? 'default', key));
  return { config, sources, file, role: opts.role, warnings, ...(etcFile ? { etcFile } : {}) };
}
