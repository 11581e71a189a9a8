/**
 * A reconnect-storm client process (forked by scenarios/reconnect.ts, at most 10,000 clients each): `duet/client`
 * instances with their default reconnect policy, each logged in as its own uid (diagnostic route 2). After every
 * reconnect a client logs in again; the runner asks how many are served (logged in on their current connection).
 */
import WebSocket from 'ws';
import { Client } from '../../src/client/index.js';
import type { WebSocketConstructor } from '../../src/client/options.js';

type Command = { type: 'setup'; url: string; count: number; uidBase: number } | { type: 'count' } | { type: 'close' };

export type ReconnectReply =
  | { type: 'ready'; served: number; failed: number }
  | {
      type: 'count';
      served: number;
      /** Clients whose connection was lost at least once, and how many reconnected and logged in again. */
      lost: number;
      reconnected: number;
      /** Epoch ms of the first loss and of the last re-login answered. */
      firstLostEpoch: number;
      lastServedEpoch: number;
      attempts: number;
    };

const send = (m: ReconnectReply): void => {
  process.send?.(m);
};

interface Entry {
  client: Client;
  uid: number;
  served: boolean;
  wasLost: boolean;
  reconnected: boolean;
}

const entries: Entry[] = [];
let firstLostEpoch = 0;
let lastServedEpoch = 0;
let attempts = 0;

async function login(e: Entry): Promise<boolean> {
  try {
    const r = await e.client.request(2, new TextEncoder().encode(String(e.uid)), { timeoutMs: 30_000 });
    return !new TextDecoder().decode(r.body).startsWith('error');
  } catch {
    return false;
  }
}

/** As a game client would: a login refused while the cluster settles is retried (every 500 ms) while connected. */
async function relogin(e: Entry): Promise<void> {
  for (let i = 0; i < 60 && e.client.state === 'open'; i++) {
    if (await login(e)) {
      e.served = true;
      e.reconnected = true;
      lastServedEpoch = Date.now();
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function setup(url: string, count: number, uidBase: number): Promise<void> {
  let next = 0;
  let failed = 0;
  const one = async (): Promise<void> => {
    while (next < count) {
      const uid = uidBase + next++;
      const client = new Client({
        url,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        resume: { enabled: false },
      });
      const e: Entry = { client, uid, served: false, wasLost: false, reconnected: false };
      entries.push(e);
      client.on('close', () => {
        if (!e.served) return;
        e.served = false;
        e.wasLost = true;
        if (firstLostEpoch === 0) firstLostEpoch = Date.now();
      });
      client.on('reconnecting', () => {
        attempts++;
      });
      client.on('open', ({ isReconnect }) => {
        if (isReconnect) void relogin(e);
      });
      client.on('error', () => {});
      try {
        await client.connect();
        e.served = await login(e);
      } catch {
        e.served = false;
      }
      if (!e.served) failed++;
    }
  };
  await Promise.all(Array.from({ length: 100 }, one));
  send({ type: 'ready', served: entries.filter((e) => e.served).length, failed });
}

process.on('message', (m: Command) => {
  if (m.type === 'setup') void setup(m.url, m.count, m.uidBase);
  else if (m.type === 'count') {
    send({
      type: 'count',
      served: entries.filter((e) => e.served).length,
      lost: entries.filter((e) => e.wasLost).length,
      reconnected: entries.filter((e) => e.reconnected).length,
      firstLostEpoch,
      lastServedEpoch,
      attempts,
    });
  } else if (m.type === 'close') {
    void Promise.all(entries.map((e) => e.client.close().catch(() => {}))).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  }
});
process.on('disconnect', () => process.exit(0));
