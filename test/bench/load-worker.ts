/**
 * A load-generating worker process (forked by lib/load.ts, at most ~15k sockets each): opens `conns` WebSockets,
 * then drives them in one of four modes on the runner's command, and reports a latency histogram.
 *   closed    one request in flight per socket; latency = response time - send time
 *   open      a fixed rate per socket, sent on schedule whatever is in flight; latency = response - scheduled time
 *             (no coordinated omission)
 *   idle      only heartbeats every `heartbeatMs` (random phase per socket)
 *   broadcast counts pushes on `pushRoute`; socket 0 can send the trigger request
 *   login     on command, every socket sends one login (route 2, body = its uid) at once; latency per login
 * Protocols: `duet` (due packets; also what the bare ws echo server and the pass-through echo verbatim) and `pomelo`.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Histogram } from './lib/histogram.js';
import type { WorkerCommand, WorkerReply, WorkerSpec } from './lib/load-protocol.js';
import { TcpWs } from './lib/tcp-ws.js';
import {
  DUET_HEADER_BYTES,
  DUET_HEARTBEAT,
  duetRequest,
  POMELO_RESPONSE,
  PomeloPackage,
  pomeloHandshake,
  pomeloMessageHead,
  pomeloPackage,
  pomeloPackages,
  pomeloRequest,
  readDuetFrame,
  setDuetSeq,
} from './lib/wire.js';

const send = (m: WorkerReply): void => {
  process.send?.(m);
};
const epochNow = (): number => performance.timeOrigin + performance.now();
const perfAt = (epochMs: number): number => epochMs - performance.timeOrigin;
// A zero mask key makes ws's in-place masking a no-op: frames can be shared and re-sent, and the client spends
// no CPU masking (a load generator's privilege; RFC 6455 allows any key).
const noMask = (): void => {};
const SEQ_SLOTS = 4096;

interface Conn {
  ws: WebSocket;
  ready: boolean;
  /** closed loop: perf time of the request in flight (0 = none) */
  sentAt: number;
  frame: Buffer;
  /** open loop: next scheduled send (perf ms), and scheduled time per seq slot */
  next: number;
  seq: number;
  scheduled: Float64Array | undefined;
  pushes: number;
}

let spec: WorkerSpec;
const conns: Conn[] = [];
const hist = new Histogram();
let windowFrom = Number.POSITIVE_INFINITY;
let windowTo = Number.POSITIVE_INFINITY;
let running = false;
let completed = 0;
let sent = 0;
let errors = 0;
let closedUnexpectedly = 0;
let lastPushEpoch = 0;
let pushesTotal = 0;
let ticker: NodeJS.Timeout | undefined;
const samples = { atEpoch: [] as number[], ms: [] as number[] };
/** login mode: answers still awaited, and when the storm began / last answer came (epoch ms). */
let loginsWaiting = 0;
let loginOk = 0;
let loginFailed = 0;
let loginFirstEpoch = 0;
let loginLastEpoch = 0;
let loginTimer: NodeJS.Timeout | undefined;
let loginHist = new Histogram();

function body(): Buffer {
  return Buffer.alloc(spec.bodyBytes, 0x61);
}

function requestFrame(): Buffer {
  if (spec.protocol === 'pomelo') {
    // JSON {"d":"aaaa"} sized to bodyBytes in total.
    const pad = Math.max(0, spec.bodyBytes - 8);
    return pomeloRequest(1, spec.pomeloRoute ?? 'echo.echoHandler.echo', JSON.stringify({ d: 'a'.repeat(pad) }));
  }
  return duetRequest(spec.route, 1, body());
}

function onResponse(c: Conn, now: number, seq: number): void {
  if (spec.mode === 'closed') {
    if (c.sentAt === 0) return;
    if (now >= windowFrom && now < windowTo) {
      hist.record((now - c.sentAt) * 1000);
      completed++;
    }
    c.sentAt = 0;
    if (running) fire(c);
    return;
  }
  if (spec.mode === 'open' && c.scheduled) {
    const at = c.scheduled[seq % SEQ_SLOTS] as number;
    if (at === 0) return;
    c.scheduled[seq % SEQ_SLOTS] = 0;
    if (at >= windowFrom && at < windowTo) {
      hist.record((now - at) * 1000);
      completed++;
      if (spec.keepSamples) {
        samples.atEpoch.push(performance.timeOrigin + at);
        samples.ms.push(now - at);
      }
    }
  }
}

function startLogins(uidOffset: number, timeoutMs: number): void {
  const base = (spec.loginUidBase ?? 1) + uidOffset;
  loginsWaiting = 0;
  loginOk = 0;
  loginFailed = 0;
  loginHist = new Histogram();
  loginFirstEpoch = epochNow();
  const now = performance.now();
  conns.forEach((c, i) => {
    if (c.ws.readyState !== WebSocket.OPEN) {
      loginFailed++;
      return;
    }
    c.sentAt = now;
    loginsWaiting++;
    c.ws.send(duetRequest(2, 1, Buffer.from(String(base + i))));
  });
  loginTimer = setTimeout(() => {
    loginFailed += loginsWaiting;
    loginsWaiting = 0;
    reportLogins();
  }, timeoutMs);
  if (loginsWaiting === 0) reportLogins();
}

function onLoginAnswer(c: Conn, now: number, data: Buffer): void {
  if (c.sentAt === 0 || loginsWaiting === 0) return;
  loginHist.record((now - c.sentAt) * 1000);
  c.sentAt = 0;
  // The demo login answers with the uid it bound, or a text starting "error".
  if (data.subarray(DUET_HEADER_BYTES).toString().startsWith('error')) loginFailed++;
  else loginOk++;
  loginLastEpoch = epochNow();
  if (--loginsWaiting === 0) reportLogins();
}

function reportLogins(): void {
  clearTimeout(loginTimer);
  send({
    type: 'logins',
    hist: loginHist.toJSON(),
    ok: loginOk,
    failed: loginFailed,
    firstSendEpoch: loginFirstEpoch,
    lastAnswerEpoch: loginLastEpoch,
  });
}

function fire(c: Conn): void {
  if (c.ws.readyState !== WebSocket.OPEN) return;
  c.sentAt = performance.now();
  sent++;
  c.ws.send(c.frame);
}

function onMessage(c: Conn, data: Buffer): void {
  const now = performance.now();
  if (spec.protocol === 'pomelo') {
    for (const p of pomeloPackages(data)) {
      if (p.type === PomeloPackage.HANDSHAKE) {
        c.ws.send(pomeloPackage(PomeloPackage.HANDSHAKE_ACK));
        c.ready = true;
        readyCheck();
      } else if (p.type === PomeloPackage.HEARTBEAT) c.ws.send(pomeloPackage(PomeloPackage.HEARTBEAT));
      else if (p.type === PomeloPackage.DATA) {
        const head = pomeloMessageHead(p.body);
        if (head.type === POMELO_RESPONSE) onResponse(c, now, head.id);
      }
    }
    return;
  }
  const f = readDuetFrame(data);
  if (!f || f.heartbeat) return;
  if (!c.ready) {
    // bindUid: the login's answer (the uid, or an error text) makes the socket ready
    if (f.seq === 1 && !data.subarray(DUET_HEADER_BYTES).toString().startsWith('error')) c.ready = true;
    else failed++;
    readyCheck();
    return;
  }
  if (spec.mode === 'login') {
    if (f.seq === 1) onLoginAnswer(c, now, data);
    return;
  }
  if (spec.mode === 'broadcast') {
    if (f.route === spec.pushRoute && f.seq === 0) {
      c.pushes++;
      pushesTotal++;
      lastPushEpoch = epochNow();
    }
    return;
  }
  onResponse(c, now, f.seq);
}

let readyReported = false;
let failed = 0;
function readyCheck(): void {
  if (readyReported) return;
  const ready = conns.filter((c) => c.ready).length;
  if (ready + failed >= spec.conns) {
    readyReported = true;
    send({ type: 'ready', opened: ready, failed });
  }
}

function openOne(): Promise<void> {
  return new Promise((resolve) => {
    // tcp:// urls: the same due packets on the gate's TCP listener (the shim acts as ws's WebSocket here).
    const ws = spec.url.startsWith('tcp://')
      ? (new TcpWs(spec.url) as unknown as WebSocket)
      : new WebSocket(spec.url, { perMessageDeflate: false, generateMask: noMask, handshakeTimeout: 20_000 });
    ws.binaryType = 'nodebuffer';
    const c: Conn = {
      ws,
      ready: false,
      sentAt: 0,
      frame: requestFrame(),
      next: 0,
      seq: 0,
      scheduled: undefined,
      pushes: 0,
    };
    let settled = false;
    const done = (): void => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    ws.on('open', () => {
      const i = conns.length;
      conns.push(c);
      if (spec.protocol === 'pomelo') ws.send(pomeloHandshake());
      else if (spec.bindUid !== undefined) ws.send(duetRequest(2, 1, Buffer.from(String(spec.bindUid + i))));
      else c.ready = true;
      done();
    });
    ws.on('message', (data: Buffer) => onMessage(c, data));
    ws.on('error', () => {
      errors++;
      if (!settled) failed++;
      done();
    });
    ws.on('close', () => {
      if (settled && c.ready && !closing) closedUnexpectedly++;
      done();
    });
  });
}

async function openAll(): Promise<void> {
  const batch = spec.connectConcurrency ?? 100;
  let started = 0;
  const runners: Promise<void>[] = [];
  for (let k = 0; k < batch; k++) {
    runners.push(
      (async () => {
        while (started < spec.conns) {
          started++;
          await openOne();
        }
      })(),
    );
  }
  await Promise.all(runners);
  readyCheck();
}

function startClosed(): void {
  running = true;
  for (const c of conns) if (c.ready) fire(c);
}

function startOpen(startPerf: number): void {
  const interval = 1000 / (spec.ratePerConn ?? 10);
  for (const c of conns) {
    c.scheduled = new Float64Array(SEQ_SLOTS);
    c.next = startPerf + Math.random() * interval;
  }
  running = true;
  const tick = (): void => {
    const now = performance.now();
    for (const c of conns) {
      while (c.next <= now && c.next < windowTo) {
        c.seq = (c.seq % (SEQ_SLOTS - 1)) + 1;
        (c.scheduled as Float64Array)[c.seq] = c.next;
        setDuetSeq(c.frame, c.seq);
        sent++;
        // The frame is rewritten for the next send: give ws its own copy.
        if (c.ws.readyState === WebSocket.OPEN) c.ws.send(Buffer.from(c.frame));
        c.next += interval;
      }
    }
    if (now >= windowTo) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };
  ticker = setInterval(tick, 1);
}

function startIdle(): void {
  const every = spec.heartbeatMs ?? 5000;
  const start = performance.now();
  for (const c of conns) c.next = start + Math.random() * every;
  ticker = setInterval(() => {
    const now = performance.now();
    for (const c of conns) {
      if (c.next <= now) {
        c.next += every;
        if (c.ws.readyState === WebSocket.OPEN) c.ws.send(DUET_HEARTBEAT);
      }
    }
  }, 50);
}

async function finish(): Promise<void> {
  running = false;
  const deadline = performance.now() + 3000;
  const inFlight = (): boolean =>
    spec.mode === 'closed'
      ? conns.some((c) => c.sentAt !== 0)
      : conns.some((c) => c.scheduled?.some((v) => v !== 0) ?? false);
  while (inFlight() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  let lost = 0;
  if (spec.mode === 'closed') lost = conns.filter((c) => c.sentAt !== 0).length;
  else for (const c of conns) for (const v of c.scheduled ?? []) if (v !== 0) lost++;
  send({
    type: 'result',
    hist: hist.toJSON(),
    completed,
    sent,
    errors,
    lost,
    closed: closedUnexpectedly,
    samples: spec.keepSamples ? samples : undefined,
  });
}

let closing = false;
process.on('message', (m: WorkerCommand) => {
  switch (m.type) {
    case 'setup':
      spec = m.spec;
      void openAll();
      break;
    case 'run': {
      windowFrom = perfAt(m.measureFromEpoch);
      windowTo = perfAt(m.measureToEpoch);
      const startPerf = performance.now();
      if (spec.mode === 'closed') startClosed();
      else if (spec.mode === 'open') startOpen(startPerf);
      // Stop a little after the window; the runner waits for the result.
      setTimeout(() => void finish(), Math.max(0, windowTo - performance.now()));
      break;
    }
    case 'idle':
      startIdle();
      break;
    case 'trigger': {
      const c = conns[0];
      if (c) {
        const t = epochNow();
        c.ws.send(duetRequest(m.route, 1, m.body));
        send({ type: 'triggered', atEpoch: t });
      }
      break;
    }
    case 'login':
      startLogins(m.uidOffset, m.timeoutMs);
      break;
    case 'count':
      send({
        type: 'count',
        pushes: pushesTotal,
        lastPushEpoch,
        open: conns.filter((c) => c.ws.readyState === 1).length,
      });
      break;
    case 'close': {
      closing = true;
      if (ticker) clearInterval(ticker);
      for (const c of conns) c.ws.terminate();
      setTimeout(() => process.exit(0), 50);
      break;
    }
  }
});
process.on('disconnect', () => process.exit(0));
