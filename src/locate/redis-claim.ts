import { errorMessage, UnavailableError } from '../errors.js';
import { LocateEventType, type LocateKind, type Uid } from './locator.js';
import type { RedisClient } from './redis-connect.js';
import { encodeEvent, gateKey, type LuaScript, nodeKey, script } from './redis-layout.js';

/*
 * Claims: bind only when nothing holds the key (or the hash field), and answer whoever holds it afterwards. Used to
 * re-assert bindings after Redis came back (possibly restarted empty): a login that bound the uid elsewhere in the
 * meantime is newer and must win, so a claim never overwrites. The event goes out only when the claim took.
 */

/** KEYS[1] gate key; ARGV[1] gid, ARGV[2] channel, ARGV[3] event JSON. Returns the gid holding the key. */
export const CLAIM_GATE: LuaScript = script(
  'claimGate',
  `local val = redis.call('GET', KEYS[1])
if val then
  return val
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return ARGV[1]`,
);

/** KEYS[1] node key; ARGV[1] node name, ARGV[2] nid, ARGV[3] channel, ARGV[4] event JSON. Returns the nid. */
export const CLAIM_NODE: LuaScript = script(
  'claimNode',
  `local val = redis.call('HGET', KEYS[1], ARGV[1])
if val then
  return val
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return ARGV[2]`,
);

export interface Claim {
  uid: Uid;
  kind: LocateKind;
  /** The node name (the hash field); '' for a gate claim. */
  name: string;
  /** The gid or nid claiming. */
  id: string;
}

/** The script, key and arguments of one claim (the event JSON is the bind's, so watchers see an ordinary bind). */
export function claimCall(
  prefix: string,
  channel: string,
  c: Claim,
): { what: string; script: LuaScript; key: string; args: string[] } {
  const type = c.kind === 'gate' ? LocateEventType.BIND_GATE : LocateEventType.BIND_NODE;
  const ev = encodeEvent({ uid: c.uid, type, insID: c.id, insKind: c.kind, insName: c.name });
  if (c.kind === 'gate') {
    return { what: 'claimGate', script: CLAIM_GATE, key: gateKey(prefix, c.uid), args: [c.id, channel, ev] };
  }
  return { what: 'claimNode', script: CLAIM_NODE, key: nodeKey(prefix, c.uid), args: [c.name, c.id, channel, ev] };
}

/** The script's reply (a bulk string, as a string or a Buffer): the id holding the binding. */
export function claimOwner(reply: unknown): string {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  throw new UnavailableError(`redis locator: a claim returned ${typeof reply}, expected a string`);
}

/** Runs one claim's script (EVALSHA, or EVAL when Redis does not have it yet): the id holding the binding after it. */
export async function runClaim(
  cmd: RedisClient,
  c: { script: LuaScript; key: string; args: string[] },
): Promise<string> {
  try {
    return claimOwner(await cmd.call('EVALSHA', c.script.sha, 1, c.key, ...c.args));
  } catch (err) {
    if (!errorMessage(err).startsWith('NOSCRIPT')) throw err;
    return claimOwner(await cmd.call('EVAL', c.script.lua, 1, c.key, ...c.args));
  }
}
