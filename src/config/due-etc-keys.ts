/**
 * How each key of due v2.5.8's etc file (its documented gate and node keys) sets duet's configuration. Most keys
 * are duet's own under the same name; this file holds the ones that differ: due's nested `[log.*]` tables, keys
 * duet accepts but does not act on (drpc, options due no longer reads), and adapters implied by which sections a file has (due
 * picks adapters in code; a file with only `[registry.etcd]` is an etcd deployment).
 */
import { resolveKey } from './keys.js';

export interface EtcSetting {
  /** duet's dotted key. */
  key: string;
  value: unknown;
  /** Where it came from, `etc/etc.toml:due.key` (set by the reader). */
  label?: string;
}

/** due keys duet knows but does not implement: listed in the warning even though the schema accepts them. */
const NOT_IMPLEMENTED = new Set([
  'network.tcp.server.writeTimeout',
  'log.stackLevel',
  'log.timeFormat',
  'log.callSkip',
  'log.file.compress',
]);

/** Keys the gate shares between its listeners: set on TCP alone, they set the WebSocket side too. */
const GATE_WIDE = ['heartbeatInterval', 'heartbeatMechanism', 'authorizeTimeout'];

const ROTATE: Record<string, boolean> = { day: true, none: false };

type Leaves = ReadonlyMap<string, unknown>;

function hasPrefix(leaves: Leaves, prefix: string): boolean {
  for (const k of leaves.keys()) if (k.startsWith(prefix)) return true;
  return false;
}

/** The first key of a section implies its adapter (once; later keys of the section do not repeat it). */
function firstOf(leaves: Leaves, prefix: string, key: string): boolean {
  for (const k of leaves.keys()) if (k.startsWith(prefix)) return k === key;
  return false;
}

function logKey(key: string, value: unknown, leaves: Leaves): EtcSetting[] | undefined {
  const terminals = leaves.get('log.terminals');
  const toFile = !Array.isArray(terminals) || terminals.includes('file');
  switch (key) {
    case 'log.level':
      // due has fatal and panic above error; duet's highest level is error.
      return [{ key, value: value === 'fatal' || value === 'panic' ? 'error' : value }];
    case 'log.terminals':
      if (!Array.isArray(value)) return undefined;
      return [
        { key: 'log.stdout', value: value.includes('console') },
        ...(toFile ? [] : [{ key: 'log.file', value: '' }]),
      ];
    case 'log.callFullPath':
      return [{ key: 'log.callerFullPath', value }];
    case 'log.file.path':
      return toFile ? [{ key: 'log.file', value }] : [];
    case 'log.file.format':
      return [{ key: 'log.format', value }];
    case 'log.console.format':
      return leaves.has('log.file.format') ? [] : [{ key: 'log.format', value }];
    case 'log.file.maxAge':
      return [{ key: 'log.maxAge', value }];
    case 'log.file.maxSize':
      return [{ key: 'log.maxSize', value }];
    case 'log.file.rotate':
      return typeof value === 'string' && value in ROTATE
        ? [{ key: 'log.rotateDaily', value: ROTATE[value] }]
        : undefined;
    default:
      return undefined;
  }
}

/** duet settings for one due key, or undefined when duet does not implement it. */
export function mapDueKey(key: string, value: unknown, leaves: Leaves): EtcSetting[] | undefined {
  if (NOT_IMPLEMENTED.has(key)) return undefined;
  if (key.startsWith('log.')) {
    const mapped = logKey(key, value, leaves);
    if (mapped !== undefined) return mapped;
  }
  const ref = resolveKey(key.split('.'), false);
  if (ref.kind !== 'field' && ref.kind !== 'entry') return undefined;
  if (ref.kind === 'field' && ref.field.doc.startsWith('due compatibility')) return undefined;
  const out: EtcSetting[] = [{ key, value }];
  const tcpGateWide = /^network\.tcp\.server\.(\w+)$/.exec(key);
  if (tcpGateWide?.[1] && GATE_WIDE.includes(tcpGateWide[1])) {
    const wsKey = `network.ws.server.${tcpGateWide[1]}`;
    if (!leaves.has(wsKey)) out.push({ key: wsKey, value });
  }
  const hasEtcd = hasPrefix(leaves, 'registry.etcd.');
  const hasConsul = hasPrefix(leaves, 'registry.consul.');
  if (hasEtcd !== hasConsul && !leaves.has('registry.adapter')) {
    const which = hasEtcd ? 'etcd' : 'consul';
    if (firstOf(leaves, `registry.${which}.`, key)) out.push({ key: 'registry.adapter', value: which });
  }
  if (firstOf(leaves, 'locate.redis.', key) && !leaves.has('locate.adapter')) {
    out.push({ key: 'locate.adapter', value: 'redis' });
  }
  return out;
}
