/**
 * One soak load process (test/soak/soak.ts spawns several): holds up to a few thousand due sessions on raw `ws`
 * sockets, logs each in (diagnostic route 2), sends heartbeats and echo requests on a schedule, and churns a
 * fraction of its sessions (close or drop, then reconnect and log in again). Reports counters to the parent over
 * IPC every `reportMs`; on the parent's 'stop' it closes every socket, sends a final report and exits.
 */
import WebSocket from 'ws';
import { DUET_HEARTBEAT, duetRequest, readDuetFrame } from '../bench/lib/wire.js';
import { percentile, type WorkerConfig, type WorkerReport } from './soak-protocol.js';

const ROUTE_ECHO = 1;
const ROUTE_LOGIN = 2;
const REQUEST_TIMEOUT_MS = 10_000;
const TICK_MS = 100;

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;

interface Sess {
  uid: number;
  ws: WebSocket | undefined;
  loggedIn: boolean;
  /** We closed it on purpose (churn or stop): its close code is not an error. */
  leaving: boolean;
  nextEchoAt: number;
  nextHbAt: number;
  seq: number;
  /** seq → sent at (ms) of requests in flight. */
  inflight: Map<number, number>;
}

const sessions: Sess[] = [];
const r: Omit<WorkerReport, 'type' | 'p50Ms' | 'p99Ms'> = {
  open: 0,
  loggedIn: 0,
  connects: 0,
  connectFailures: 0,
  requests: 0,
  responses: 0,
  timeouts: 0,
  loginErrors: 0,
  unexpectedCloses: {},
  churned: 0,
  heartbeatsIn: 0,
};
let latencies: number[] = [];
let stopping = false;
const echoBody = Buffer.alloc(32, 0x61);

function open(s: Sess): void {
  const ws = new WebSocket(cfg.url, { perMessageDeflate: false, handshakeTimeout: 10_000 });
  s.ws = ws;
  s.loggedIn = false;
  s.leaving = false;
  s.inflight.clear();
  let opened = false;
  ws.binaryType = 'nodebuffer';
  ws.on('open', () => {
    opened = true;
    r.connects++;
    r.open++;
    send(s, ROUTE_LOGIN, Buffer.from(String(s.uid)));
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const f = readDuetFrame(data);
    if (!f) return;
    if (f.heartbeat) {
      r.heartbeatsIn++;
      return;
    }
    const sentAt = s.inflight.get(f.seq);
    if (sentAt === undefined) return;
    s.inflight.delete(f.seq);
    r.responses++;
    if (f.route === ROUTE_LOGIN) {
      if (data.subarray(9).toString().startsWith('error')) r.loginErrors++;
      else {
        s.loggedIn = true;
        r.loggedIn++;
      }
      return;
    }
    latencies.push(Date.now() - sentAt);
  });
  ws.on('error', () => {
    // the close event follows and is what we count
  });
  ws.on('close', (code: number) => {
    if (s.ws !== ws) return;
    s.ws = undefined;
    if (opened) r.open--;
    else r.connectFailures++;
    if (s.loggedIn) r.loggedIn--;
    s.loggedIn = false;
    if (!s.leaving && !stopping) {
      const k = String(code);
      r.unexpectedCloses[k] = (r.unexpectedCloses[k] ?? 0) + 1;
      // keep the population: reconnect after a short pause
      setTimeout(() => {
        if (!stopping && s.ws === undefined) open(s);
      }, 1000).unref();
    }
  });
}

function send(s: Sess, route: number, body: Buffer): void {
  const ws = s.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  s.seq = (s.seq % 32_000) + 1;
  s.inflight.set(s.seq, Date.now());
  r.requests++;
  ws.send(duetRequest(route, s.seq, body));
}

/** Closes (half the time cleanly, half abruptly) and reconnects a random fraction of the open sessions. */
function churn(): void {
  const n = Math.round(sessions.length * cfg.churnFraction);
  for (let i = 0; i < n; i++) {
    const s = sessions[Math.floor(Math.random() * sessions.length)] as Sess;
    const ws = s.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) continue;
    s.leaving = true;
    r.churned++;
    ws.once('close', () => {
      if (!stopping) open(s);
    });
    if (Math.random() < 0.5) ws.close(1000);
    else ws.terminate();
  }
}

function tick(): void {
  const now = Date.now();
  for (const s of sessions) {
    const ws = s.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) continue;
    for (const [seq, at] of s.inflight) {
      if (now - at > REQUEST_TIMEOUT_MS) {
        s.inflight.delete(seq);
        r.timeouts++;
      }
    }
    if (now >= s.nextHbAt) {
      ws.send(DUET_HEARTBEAT);
      s.nextHbAt = now + cfg.heartbeatMs;
    }
    if (s.loggedIn && now >= s.nextEchoAt) {
      send(s, ROUTE_ECHO, echoBody);
      s.nextEchoAt = now + cfg.echoEveryMs;
    }
  }
}

function report(): void {
  const sorted = latencies.sort((a, b) => a - b);
  const msg: WorkerReport = { type: 'report', ...r, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
  latencies = [];
  process.send?.(msg);
}

async function stopAll(): Promise<void> {
  stopping = true;
  clearInterval(tickTimer);
  clearInterval(churnTimer);
  clearInterval(reportTimer);
  const closing: Promise<void>[] = [];
  for (const s of sessions) {
    const ws = s.ws;
    if (!ws) continue;
    s.leaving = true;
    closing.push(new Promise((resolve) => ws.once('close', () => resolve())));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws.terminate();
  }
  const timer = setTimeout(() => {
    for (const s of sessions) s.ws?.terminate();
  }, 5000);
  await Promise.all(closing);
  clearTimeout(timer);
  report();
  process.disconnect?.();
}

// Ramp up at rampPerSec, spreading the echo and heartbeat phases so the load is steady, not synchronized.
const start = Date.now();
for (let i = 0; i < cfg.count; i++) {
  sessions.push({
    uid: cfg.uidBase + i,
    ws: undefined,
    loggedIn: false,
    leaving: false,
    nextEchoAt: start + Math.random() * cfg.echoEveryMs,
    nextHbAt: start + Math.random() * cfg.heartbeatMs,
    seq: 0,
    inflight: new Map(),
  });
}
let opened = 0;
const ramp = setInterval(
  () => {
    const batch = Math.max(1, Math.round(cfg.rampPerSec / 10));
    for (let i = 0; i < batch && opened < sessions.length && !stopping; i++) open(sessions[opened++] as Sess);
    if (opened >= sessions.length || stopping) clearInterval(ramp);
  },
  Math.max(1, TICK_MS),
);
const tickTimer = setInterval(tick, TICK_MS);
const churnTimer = setInterval(churn, cfg.churnEveryMs);
const reportTimer = setInterval(report, cfg.reportMs);
process.on('message', (m: unknown) => {
  if (m === 'stop') {
    clearInterval(ramp);
    void stopAll();
  }
});
process.on('disconnect', () => {
  if (!stopping) void stopAll();
});
