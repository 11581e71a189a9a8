import { createHash } from 'node:crypto';
import { type LocateEvent, LocateEventType, type LocateKind, type Uid } from './locator.js';

/**
 * due's Redis layout for the locator, byte for byte: key and channel templates,
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
