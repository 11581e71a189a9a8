import type { Bus } from '../bus/bus.js';
import { connectNatsBus } from '../bus/nats-bus.js';
import { natsSecurity } from '../bus/nats-security.js';
import { loadConfig } from '../config/load.js';
import type { DuetConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';

/**
 * The bus of a running cluster, for the observer commands (`duet trace`, `duet capture`): the gate configuration's
 * `[bus]` (config/gate.toml < env < `--set`), or `--server URL`s given on the command line, dialled in that order.
 */
export async function connectObserverBus(
  command: string,
  argv: string[],
  servers: string[],
): Promise<{ bus: Bus; config: DuetConfig; servers: string[] }> {
  const { config } = loadConfig({ role: 'gate', argv });
  if (servers.length === 0 && config.bus.adapter !== 'nats')
    throw new ConfigError(
      'bus.adapter',
      config.bus.adapter,
      `duet ${command} reads a cluster's NATS bus: bus.adapter must be "nats" (or pass --server URL), got "${config.bus.adapter}"`,
    );
  const n = config.bus.nats;
  const urls = servers.length > 0 ? servers : [...n.servers];
  const bus = await connectNatsBus({
    servers: urls,
    name: `duet ${command}`,
    user: n.user || undefined,
    pass: n.pass || undefined,
    token: n.token || undefined,
    ...natsSecurity(n),
    noRandomize: true,
  });
  return { bus, config, servers: urls };
}

/** Resolves on the first SIGINT or SIGTERM (the observer commands run until then) and removes its listeners. */
export function untilSignal(signal?: AbortSignal): { stopped: Promise<string>; dispose(): void } {
  let dispose = (): void => {};
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (s: NodeJS.Signals): void => resolve(s);
    const onAbort = (): void => resolve('abort');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    signal?.addEventListener('abort', onAbort, { once: true });
    dispose = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      signal?.removeEventListener('abort', onAbort);
    };
  });
  return { stopped: stopped.finally(() => dispose()), dispose: () => dispose() };
}

/** `--uid 12` → 12; undefined when absent; a ConfigError naming the flag when not a non-negative integer. */
export function intFlag(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new ConfigError(`--${name}`, value, `--${name} must be a non-negative integer, got ${String(value)}`);
  return n;
}

export function stringsFlag(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((x): x is string => typeof x === 'string');
  return typeof value === 'string' ? [value] : [];
}
