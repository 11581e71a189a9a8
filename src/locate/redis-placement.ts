import { createHash } from 'node:crypto';
import { UnavailableError } from '../errors.js';
import type { ActorPlacement } from './locator.js';
import type { RedisClient } from './redis-connect.js';

/**
 * Actor placements on Redis (duet's own keys, beside due's): `{prefix}:locate:{actor}:place:{kind/id}` is a hash
 * `nid`, `token`; `{prefix}:locate:{actor}:lease:{nid}` a key with a TTL that its node renews. The `{actor}` hash tag
 * keeps every key a script touches in one slot, so the scripts also run on Redis Cluster. A freed placement keeps
 * its token (nid "") for a day, so tokens never go back while anyone may still hold an old one.
 */
const PLACE = `
local nid = redis.call('HGET', KEYS[1], 'nid')
local token = tonumber(redis.call('HGET', KEYS[1], 'token') or '0')
if nid and nid ~= '' and (nid == ARGV[1] or redis.call('EXISTS', ARGV[2] .. nid) == 1) then
  return {nid, token}
end
token = token + 1
redis.call('HSET', KEYS[1], 'nid', ARGV[1], 'token', token)
redis.call('PERSIST', KEYS[1])
return {ARGV[1], token}`;

const RELEASE = `
if redis.call('HGET', KEYS[1], 'nid') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'nid', '')
  redis.call('PEXPIRE', KEYS[1], 86400000)
  return 1
end
return 0`;

const sha = (lua: string): string => createHash('sha1').update(lua).digest('hex');
const SCRIPTS = { place: { lua: PLACE, sha: sha(PLACE) }, release: { lua: RELEASE, sha: sha(RELEASE) } };

/** Runs one exchange through the locator's error and outage handling. */
export type RedisRun = <T>(
  what: string,
  signal: AbortSignal | undefined,
  fn: (cmd: RedisClient) => Promise<T>,
) => Promise<T>;

export class RedisPlacement {
  readonly #run: RedisRun;
  readonly #base: string;

  constructor(prefix: string, run: RedisRun) {
    this.#base = `${prefix}:locate:{actor}`;
    this.#run = run;
  }

  #lease(nid: string): string {
    return `${this.#base}:lease:${nid}`;
  }

  #place(key: string): string {
    return `${this.#base}:place:${key}`;
  }

  /** HGETALL of due's user → node hash (not cached: the locator's cache holds single names). */
  locateNodes(key: string, signal?: AbortSignal): Promise<Record<string, string>> {
    return this.#run('locateNodes', signal, async (cmd) => {
      const r = await cmd.call('HGETALL', key);
      const out: Record<string, string> = {};
      if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) out[String(r[i])] = String(r[i + 1]);
      return out;
    });
  }

  renewLease(nid: string, ttlMs: number, signal?: AbortSignal): Promise<void> {
    return this.#run('renew lease', signal, async (cmd) => {
      await cmd.call('SET', this.#lease(nid), '1', 'PX', String(Math.max(1, Math.ceil(ttlMs))));
    });
  }

  dropLease(nid: string, signal?: AbortSignal): Promise<void> {
    return this.#run('drop lease', signal, async (cmd) => {
      await cmd.call('DEL', this.#lease(nid));
    });
  }

  placeActor(key: string, nid: string, signal?: AbortSignal): Promise<ActorPlacement> {
    return this.#run('place actor', signal, async (cmd) => {
      const r = await evalScript(cmd, SCRIPTS.place, this.#place(key), [nid, `${this.#base}:lease:`]);
      return placement(r, key);
    });
  }

  releaseActor(key: string, p: ActorPlacement, signal?: AbortSignal): Promise<boolean> {
    return this.#run('release actor', signal, async (cmd) => {
      const r = await evalScript(cmd, SCRIPTS.release, this.#place(key), [p.nid, String(p.token)]);
      return r === 1;
    });
  }

  locateActor(key: string, signal?: AbortSignal): Promise<ActorPlacement | undefined> {
    return this.#run('locate actor', signal, async (cmd) => {
      const r = await cmd.call('HMGET', this.#place(key), 'nid', 'token');
      if (!Array.isArray(r) || !r[0]) return undefined;
      return placement([String(r[0]), Number(String(r[1]))], key);
    });
  }
}

async function evalScript(cmd: RedisClient, s: { lua: string; sha: string }, key: string, args: string[]) {
  try {
    return await cmd.call('EVALSHA', s.sha, 1, key, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return await cmd.call('EVAL', s.lua, 1, key, ...args);
  }
}

function placement(r: unknown, key: string): ActorPlacement {
  if (!Array.isArray(r) || r.length !== 2) throw new UnavailableError(`redis locator: bad placement reply for ${key}`);
  const nid = Buffer.isBuffer(r[0]) ? r[0].toString('utf8') : String(r[0]);
  const token = Number(r[1]);
  if (!nid || !Number.isSafeInteger(token)) throw new UnavailableError(`redis locator: bad placement reply for ${key}`);
  return { nid, token };
}
