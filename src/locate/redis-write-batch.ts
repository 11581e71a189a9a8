import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.js';
import type { RedisClient } from './redis-connect.js';

/**
 * The locator's writes of one event-loop turn as one Redis call: a login storm binds thousands of uids at once,
 * and one script call per bind would put a round trip per login on the wire and a command per login on Redis.
 * Every write queued before the turn ends (setImmediate) goes out as one EVALSHA of BATCH_WRITE, so a write
 * costs one round trip on its critical path however many run concurrently, and Redis runs them in order.
 */

/** bg bindGate, ug unbindGate, bn bindNode, un unbindNode. */
export type WriteKind = 'bg' | 'ug' | 'bn' | 'un';

/**
 * What one write reports: for bindGate the gate the uid was bound to before ('' for none), for the
 * compare-and-deletes whether the value matched, so the event was published.
 */
export interface WriteReply {
  changed: boolean;
  previous: string;
}

interface Pending {
  kind: WriteKind;
  key: string;
  /** gid (gate writes) or node name (node writes). */
  a: string;
  /** nid (node writes), '' for gate writes. */
  b: string;
  event: string;
  resolve(r: WriteReply): void;
  reject(err: unknown): void;
}

/** Writes per call: bounds the script's argument list and how long Redis is busy with one call. */
export const DEFAULT_MAX_WRITES_PER_CALL = 256;
/**
 * Writes settled per event-loop turn. Each settled write resumes its caller's continuation (a gate's bind steps the
 * session, a login answers), all in one microtask drain: a storm's thousands of replies, arriving in one socket
 * read, held the loop for 200 ms and every other session's traffic waited. Settling in slices, with I/O between
 * them (setImmediate), keeps that work off unrelated sessions' critical path; the order of settlement is kept.
 */
export const SETTLES_PER_TURN = 64;

/*
 * KEYS: one per write. ARGV[1] gate channel, ARGV[2] node channel, then four per write: kind, a, b, event.
 * The commands are due's (SET KEEPTTL, HSET, compare-and-delete GET/DEL, HGET/HDEL) and each event is published
 * in the same script right after its change, so the channel order is the change order (due sends PUBLISH as a
 * separate command, so two instances binding one uid can publish in the opposite order of their writes and leave
 * every cache stale). redis.pcall keeps one bad key (WRONGTYPE)
 * from failing the writes around it: that write alone reports 'E<message>'. Replies: 'O<previous gid>' for a
 * bind, 'O' or 'N' (value did not match, nothing done) for an unbind.
 */
const BATCH_LUA = `local out = {}
for i = 1, #KEYS do
  local j = 3 + (i - 1) * 4
  local t, a, b, ev, k = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], KEYS[i]
  local r
  if t == 'bg' then
    local prev = redis.pcall('GET', k)
    r = redis.pcall('SET', k, a, 'KEEPTTL')
    if type(r) == 'table' and r.err then out[i] = 'E' .. r.err else
      redis.call('PUBLISH', ARGV[1], ev)
      if type(prev) == 'string' then out[i] = 'O' .. prev else out[i] = 'O' end
    end
  elseif t == 'bn' then
    r = redis.pcall('HSET', k, a, b)
    if type(r) == 'table' and r.err then out[i] = 'E' .. r.err else
      redis.call('PUBLISH', ARGV[2], ev)
      out[i] = 'O'
    end
  elseif t == 'ug' then
    r = redis.pcall('GET', k)
    if type(r) == 'table' and r.err then out[i] = 'E' .. r.err
    elseif r ~= a then out[i] = 'N' else
      redis.call('DEL', k)
      redis.call('PUBLISH', ARGV[1], ev)
      out[i] = 'O'
    end
  else
    r = redis.pcall('HGET', k, a)
    if type(r) == 'table' and r.err then out[i] = 'E' .. r.err
    elseif r ~= b then out[i] = 'N' else
      redis.call('HDEL', k, a)
      redis.call('PUBLISH', ARGV[2], ev)
      out[i] = 'O'
    end
  end
end
return out`;
const BATCH_SHA = createHash('sha1').update(BATCH_LUA).digest('hex');

export interface RedisWriteBatchOptions {
  gateChannel: string;
  nodeChannel: string;
  /** 1 for Redis Cluster: a script may only touch keys of one slot, so each write goes alone (still concurrently). */
  maxWritesPerCall?: number;
}

export class RedisWriteBatch {
  readonly #cmd: RedisClient;
  readonly #channels: readonly [string, string];
  readonly #max: number;
  #queue: Pending[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** False until a call proved Redis has the script (and again after a reconnect): EVAL then, not EVALSHA. */
  #scriptKnown = false;
  #calls = 0;
  /** Answered writes not yet settled, in reply order (SETTLES_PER_TURN). */
  #settles: (() => void)[] = [];
  #settleNext = 0;
  #settleScheduled: NodeJS.Immediate | undefined;

  constructor(cmd: RedisClient, o: RedisWriteBatchOptions) {
    this.#cmd = cmd;
    this.#channels = [o.gateChannel, o.nodeChannel];
    this.#max = Math.max(1, o.maxWritesPerCall ?? DEFAULT_MAX_WRITES_PER_CALL);
  }

  /** Redis calls made so far (each carries up to maxWritesPerCall writes). */
  get calls(): number {
    return this.#calls;
  }

  /** A restarted Redis has forgotten its scripts: the next call sends the script text. */
  forgetScript(): void {
    this.#scriptKnown = false;
  }

  /** Queues one write for this turn's call; rejects with the call's error, or the write's own (WRONGTYPE…). */
  add(kind: WriteKind, key: string, a: string, b: string, event: string): Promise<WriteReply> {
    return new Promise<WriteReply>((resolve, reject) => {
      this.#queue.push({ kind, key, a, b, event, resolve, reject });
      this.#scheduled ??= setImmediate(() => this.#flush());
    });
  }

  /** Sends what is queued now and settles what is answered (dispose: nothing may wait for a later turn). */
  flush(): void {
    clearImmediate(this.#scheduled);
    this.#flush();
    this.#settle(Number.POSITIVE_INFINITY);
  }

  /** Queues one answered write's settlement; the first slice settles in this turn, the rest on later turns. */
  #enqueueSettle(fn: () => void): void {
    this.#settles.push(fn);
    if (this.#settles.length - this.#settleNext === 1 && this.#settleScheduled === undefined) {
      // From a microtask, after the reply loop has queued every write of its call: no turn is added for a small batch.
      queueMicrotask(() => this.#settle(SETTLES_PER_TURN));
    }
  }

  #settle(max: number): void {
    clearImmediate(this.#settleScheduled);
    this.#settleScheduled = undefined;
    const q = this.#settles;
    const end = Math.min(q.length, this.#settleNext + max);
    while (this.#settleNext < end) (q[this.#settleNext++] as () => void)();
    if (this.#settleNext < q.length) {
      this.#settleScheduled = setImmediate(() => this.#settle(SETTLES_PER_TURN));
      return;
    }
    this.#settles = [];
    this.#settleNext = 0;
  }

  #flush(): void {
    this.#scheduled = undefined;
    const all = this.#queue;
    this.#queue = [];
    for (let i = 0; i < all.length; i += this.#max) void this.#send(all.slice(i, i + this.#max));
  }

  async #send(writes: Pending[]): Promise<void> {
    const keys: string[] = [];
    const argv: string[] = [this.#channels[0], this.#channels[1]];
    for (const w of writes) {
      keys.push(w.key);
      argv.push(w.kind, w.a, w.b, w.event);
    }
    let reply: unknown;
    try {
      reply = await this.#eval(keys, argv);
    } catch (err) {
      for (const w of writes) this.#enqueueSettle(() => w.reject(err));
      return;
    }
    const out = Array.isArray(reply) ? reply : [];
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i] as Pending;
      const r: unknown = out[i];
      const s = Buffer.isBuffer(r) ? r.toString('utf8') : typeof r === 'string' ? r : undefined;
      if (s === undefined) {
        const err = new Error(`locator batch: reply ${i} is ${typeof r}, expected a string`);
        this.#enqueueSettle(() => w.reject(err));
      } else if (s.startsWith('E')) {
        const err = new Error(s.slice(1));
        this.#enqueueSettle(() => w.reject(err));
      } else {
        const reply: WriteReply = { changed: s.startsWith('O'), previous: s.startsWith('O') ? s.slice(1) : '' };
        this.#enqueueSettle(() => w.resolve(reply));
      }
    }
  }

  async #eval(keys: string[], argv: string[]): Promise<unknown> {
    this.#calls++;
    if (!this.#scriptKnown) {
      const r = await this.#cmd.call('EVAL', BATCH_LUA, keys.length, ...keys, ...argv);
      this.#scriptKnown = true;
      return r;
    }
    try {
      return await this.#cmd.call('EVALSHA', BATCH_SHA, keys.length, ...keys, ...argv);
    } catch (err) {
      // SCRIPT FLUSH or a failover without a reconnect: nothing ran, so sending the text is safe.
      if (!errorMessage(err).startsWith('NOSCRIPT')) throw err;
      this.#scriptKnown = false;
      this.#calls++;
      const r = await this.#cmd.call('EVAL', BATCH_LUA, keys.length, ...keys, ...argv);
      this.#scriptKnown = true;
      return r;
    }
  }
}
