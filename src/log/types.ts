/** The logging seam core code depends on (implemented over pino in src/log/logger.ts). */
export type LogFields = Record<string, unknown>;

export interface Log {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Log;
}

const noop = (): void => {};
export const silentLog: Log = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLog };

/** A minimal console logger for when no configured logger is passed (warn and error only). */
export function consoleLog(bindings: LogFields = {}): Log {
  const line = (level: string, msg: string, fields?: LogFields): string =>
    `${new Date().toISOString()} ${level} ${msg}${fields || Object.keys(bindings).length ? ` ${JSON.stringify({ ...bindings, ...fields })}` : ''}`;
  return {
    debug: noop,
    info: noop,
    warn: (m, f) => console.warn(line('WARN', m, f)),
    error: (m, f) => console.error(line('ERROR', m, f)),
    child: (f) => consoleLog({ ...bindings, ...f }),
  };
}
