/**
 * The process logger: pino underneath, our own destination on top, so one record can go to stdout (text or
 * JSON), a rotating file and, with classifiedStorage, a per-level file, without pino transports or worker threads.
 * Fields pass through redactFields() first, so secrets never reach a line (issue 10).
 */
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { DuetConfig } from '../config/schema.js';
import { isSecretKey, REDACTED, redactFields, redactUrlCredentials } from './redact.js';
import { RotatingFile } from './rotating-file.js';
import { createTimeFormatter, formatTextLine } from './text-format.js';
import type { Log, LogFields } from './types.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Anything lines can be written to (process.stdout, a test collector). */
export interface LineSink {
  write(line: string): unknown;
}

export interface LoggerOptions {
  level: LogLevel;
  format: 'text' | 'json';
  /** Write to `stdoutSink` (default process.stdout). */
  stdout: boolean;
  /** Log file path; empty = no file. */
  file: string;
  maxSizeBytes: number;
  maxAgeMs: number;
  rotateDaily: boolean;
  /** Also write each level to `<stem>.<level><ext>` next to `file`. */
  classifiedStorage: boolean;
  /** Add `caller` (file:line) to each record; costs a stack capture per line. */
  caller: boolean;
  callerFullPath: boolean;
  /** Zone of the text format's timestamps; "Local" = the process's. JSON keeps epoch ms. */
  timezone?: string;
  /** Fields on every line, e.g. `{ role: 'gate' }`. */
  base?: LogFields;
  stdoutSink?: LineSink;
  /** Clock for file rotation (tests). */
  now?: () => number;
}

/** A Log that owns files: close() releases them (safe to call twice). */
export interface Logger extends Log {
  child(fields: LogFields): Logger;
  isLevelEnabled(level: LogLevel): boolean;
  close(): void;
}

/** Maps the `[log]` section (and the top-level timezone) to logger options. */
export function loggerOptions(config: Pick<DuetConfig, 'log' | 'timezone'>): LoggerOptions {
  const l = config.log;
  return {
    level: l.level,
    format: l.format,
    stdout: l.stdout,
    file: l.file,
    maxSizeBytes: l.maxSizeBytes,
    maxAgeMs: l.maxAgeMs,
    rotateDaily: l.rotateDaily,
    classifiedStorage: l.classifiedStorage,
    caller: l.caller,
    callerFullPath: l.callerFullPath,
    timezone: config.timezone,
  };
}

const PINO_METADATA: unique symbol = Symbol.for('pino.metadata');

const LEVEL_BY_NUMBER: Readonly<Record<number, LogLevel>> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };

/** Where pino's lines end up. pino sets `lastLevel` before each write because of the metadata symbol. */
class Destination {
  readonly [PINO_METADATA] = true;
  lastLevel = 0;
  readonly #opts: LoggerOptions;
  readonly #formatTime: (ms: number) => string;
  readonly #stdout: LineSink | undefined;
  readonly #file: RotatingFile | undefined;
  readonly #byLevel = new Map<LogLevel, RotatingFile>();
  #closed = false;
  #failed = false;

  constructor(opts: LoggerOptions) {
    this.#opts = opts;
    this.#formatTime = createTimeFormatter(opts.timezone ?? 'Local');
    this.#stdout = opts.stdout ? (opts.stdoutSink ?? process.stdout) : undefined;
    this.#file = opts.file === '' ? undefined : this.#rotating(opts.file);
  }

  write(json: string): void {
    const line = this.#opts.format === 'text' ? formatTextLine(json, this.#formatTime) : json;
    this.#stdout?.write(line);
    if (this.#closed || this.#file === undefined) return;
    try {
      this.#file.write(line);
      if (this.#opts.classifiedStorage) this.#levelFile(LEVEL_BY_NUMBER[this.lastLevel])?.write(line);
    } catch (err) {
      // A full disk must not take the process down; say so once on stderr and keep serving.
      if (!this.#failed) process.stderr.write(`duet: cannot write log file ${this.#opts.file}: ${String(err)}\n`);
      this.#failed = true;
    }
  }

  close(): void {
    this.#closed = true;
    this.#file?.close();
    for (const f of this.#byLevel.values()) f.close();
  }

  #levelFile(level: LogLevel | undefined): RotatingFile | undefined {
    if (level === undefined) return undefined;
    let f = this.#byLevel.get(level);
    if (f === undefined) {
      const ext = extname(this.#opts.file);
      f = this.#rotating(join(dirname(this.#opts.file), `${basename(this.#opts.file, ext)}.${level}${ext}`));
      this.#byLevel.set(level, f);
    }
    return f;
  }

  #rotating(path: string): RotatingFile {
    const o = this.#opts;
    const file = { path, maxSizeBytes: o.maxSizeBytes, maxAgeMs: o.maxAgeMs, rotateDaily: o.rotateDaily };
    return new RotatingFile(o.now ? { ...file, now: o.now } : file);
  }
}

const FRAME = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):\d+\)?$/;

/** `file.ts:12` of the first frame above `above` (full path when asked). */
function callerOf(above: (...args: never[]) => void, fullPath: boolean): string | undefined {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, above);
  const frame = holder.stack?.split('\n')[1]?.trim();
  const m = frame === undefined ? null : FRAME.exec(frame);
  if (m === null) return undefined;
  let file = m[1] as string;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  return `${fullPath ? file : basename(file)}:${m[2]}`;
}

class PinoLogger implements Logger {
  readonly #p: pino.Logger<never>;
  readonly #opts: LoggerOptions;
  readonly #dest: Destination;

  constructor(p: pino.Logger<never>, opts: LoggerOptions, dest: Destination) {
    this.#p = p;
    this.#opts = opts;
    this.#dest = dest;
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.#p.isLevelEnabled('debug')) this.#write('debug', msg, fields, this.debug);
  }
  info(msg: string, fields?: LogFields): void {
    if (this.#p.isLevelEnabled('info')) this.#write('info', msg, fields, this.info);
  }
  warn(msg: string, fields?: LogFields): void {
    if (this.#p.isLevelEnabled('warn')) this.#write('warn', msg, fields, this.warn);
  }
  error(msg: string, fields?: LogFields): void {
    if (this.#p.isLevelEnabled('error')) this.#write('error', msg, fields, this.error);
  }

  child(fields: LogFields): Logger {
    return new PinoLogger(this.#p.child(redactFields(fields)), this.#opts, this.#dest);
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.#p.isLevelEnabled(level);
  }

  close(): void {
    this.#dest.close();
  }

  #write(level: LogLevel, msg: string, fields: LogFields | undefined, above: (...args: never[]) => void): void {
    let obj = fields === undefined ? undefined : redactFields(fields);
    if (this.#opts.caller) {
      const caller = callerOf(above, this.#opts.callerFullPath);
      if (caller !== undefined) obj = { ...obj, caller };
    }
    if (obj === undefined) this.#p[level](msg);
    else this.#p[level](obj, msg);
  }
}

/** pino's error serializer, then URL credentials out of every string in it (an error's message may quote a URL). */
function serializeError(err: unknown): unknown {
  return redactSerialized(err instanceof Error ? pino.stdSerializers.err(err) : err, 0);
}

function redactSerialized(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return redactUrlCredentials(v);
  if (typeof v !== 'object' || v === null || depth > 4) return v;
  if (Array.isArray(v)) return v.map((x) => redactSerialized(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = isSecretKey(k) && x ? REDACTED : redactSerialized(x, depth + 1);
  return out;
}

/** Builds the process logger; the caller owns it and calls close() at exit to release log files. */
export function createLogger(opts: LoggerOptions): Logger {
  const dest = new Destination(opts);
  const p = pino(
    {
      level: opts.level,
      base: opts.base === undefined ? null : redactFields(opts.base),
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError },
    },
    dest,
  ) as pino.Logger<never>;
  return new PinoLogger(p, opts, dest);
}

const noop = (): void => {};

/** Drops everything; for tests and for parts given no logger. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
  close: noop,
};

/** The process logger for a role, from the `[log]` section: every line carries `role`. */
export function createProcessLogger(config: Pick<DuetConfig, 'log' | 'timezone'>, role: string): Logger {
  return createLogger({ ...loggerOptions(config), base: { role } });
}
