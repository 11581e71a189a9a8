import { createHash } from 'node:crypto';
import { type LocateEvent, LocateEventType, type LocateKind, type Uid } from './locator.js';

/**
 * due's Redis layout for the locator (DUE-REFERENCE.md section 5), byte for byte: key and channel templates,
 * the change-event JSON, and the Lua scripts duet runs. Kept apart from the client code so tests can name the
 * exact strings without a connection.
 */

/** `locate.redis.prefix` default since due v2.3.0; the templates add a literal `locate`, so keys read `due:locate:locate:…`. */
export const DEFAULT_LOCATE_PREFIX = 'due:locate';

/** `{prefix}:locate:user:{uid}:gate`: a string holding the gate instance id. uid as a signed decimal. */
export function gateKey(prefix: string, uid: Uid): string {
  return `${prefix}:locate:user:${uid}:gate`;
}

/** `{prefix}:locate:user:{uid}:node`: a hash, field = node name, value = node instance id. */
export function nodeKey(prefix: string, uid: Uid): string {
  return `${prefix}:locate:user:${uid}:node`;
}

/** `{prefix}:locate:cluster:{kind}:event`: the pub/sub channel of one kind's change events. */
export function eventChannel(prefix: string, kind: LocateKind): string {
  return `${prefix}:locate:cluster:${kind}:event`;
}

/** The event JSON as due writes it: field order uid, type, insID, insKind, insName (`""` for gate events). */
export function encodeEvent(e: LocateEvent): string {
  return JSON.stringify({ uid: e.uid, type: e.type, insID: e.insID, insKind: e.insKind, insName: e.insName });
}

const EVENT_KIND: Record<number, LocateKind> = {
  [LocateEventType.BIND_GATE]: 'gate',
  [LocateEventType.BIND_NODE]: 'node',
  [LocateEventType.UNBIND_GATE]: 'gate',
  [LocateEventType.UNBIND_NODE]: 'node',
};

/**
 * Parses a message from an event channel; undefined when it is not a well-formed event of `kind` (bad JSON, a uid
 * that is not a safe integer — a Go writer may send int64 values JavaScript cannot hold — unknown type, wrong kind).
 * Other writers share these channels, so bad messages are expected input, never an exception.
 */
export function parseEvent(text: string, kind: LocateKind): LocateEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const { uid, type, insID, insKind } = r;
  const insName = r.insName ?? '';
  if (typeof uid !== 'number' || !Number.isSafeInteger(uid)) return undefined;
  if (typeof type !== 'number' || EVENT_KIND[type] !== kind || insKind !== kind) return undefined;
  if (typeof insID !== 'string' || typeof insName !== 'string') return undefined;
  return { uid, type: type as LocateEventType, insID, insKind: kind, insName };
}

/** A Lua script with its SHA1, for EVALSHA with an EVAL fallback on NOSCRIPT (a restarted Redis forgets scripts). */
export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

export function script(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/*
 * Writes and their events run in one script so the event order on the channel is the order of the changes
 * (due sends PUBLISH as a separate command, so two instances binding one uid can publish in the opposite order
 * of their writes and leave every cache stale). The commands inside are due's: SET … KEEPTTL, HSET, and the
 * compare-and-delete GET/DEL, HGET/HDEL returning {'OK'} or {'NO'}; the event goes out only on OK.
 */

/** KEYS[1] gate key; ARGV[1] gid, ARGV[2] channel, ARGV[3] event JSON. */
export const BIND_GATE = script(
  'bindGate',
  `redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {'OK'}`,
);

/** KEYS[1] node key; ARGV[1] node name, ARGV[2] nid, ARGV[3] channel, ARGV[4] event JSON. */
export const BIND_NODE = script(
  'bindNode',
  `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {'OK'}`,
);

/** KEYS[1] gate key; ARGV[1] gid, ARGV[2] channel, ARGV[3] event JSON. */
export const UNBIND_GATE = script(
  'unbindGate',
  `local val = redis.call('GET', KEYS[1])
if val ~= ARGV[1] then
  return {'NO'}
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {'OK'}`,
);

/** KEYS[1] node key; ARGV[1] node name, ARGV[2] nid, ARGV[3] channel, ARGV[4] event JSON. */
export const UNBIND_NODE = script(
  'unbindNode',
  `local val = redis.call('HGET', KEYS[1], ARGV[1])
if val ~= ARGV[2] then
  return {'NO'}
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return {'OK'}`,
);
