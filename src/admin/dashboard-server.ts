/**
 * The `[admin]` HTTP listener: the dashboard page (web/admin/index.html), read-only JSON over the admin subjects
 * (GET /api/status, /api/locate?uid=N, /api/sessions?gate=ID), a user's live trace as server-sent events
 * (GET /api/trace?uid=N, from a trace lease held while the page listens), and POST /api/kick, /api/drain, which
 * need `Authorization: Bearer {admin.token}`. The questions and answers are the admin CLI's (collectReplies), so
 * both see the same cluster. Over https:// only when admin.tls sets a certificate and key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Bus } from '../bus/bus.js';
import { Subjects } from '../bus/subjects.js';
import { parseListenAddr } from '../config/addr.js';
import { ConfigError, errorMessage, UnavailableError } from '../errors.js';
import { type Log, silentLog } from '../log/types.js';
import { packageUrl } from '../package-root.js';
import { LeaseHolder } from '../trace/lease-holder.js';
import { formatTransitionJson, TraceStream } from '../trace/trace-stream.js';
import { type BusRefusals, BusRefusedError } from './dashboard-bus.js';
import { collectReplies } from './replies.js';

export interface DashboardServerOptions {
  /** `admin.addr`: "host:port"; an empty host (":9300") listens on loopback only. */
  addr: string;
  /** `admin.token`: what kick and drain need as a bearer token; empty = they are refused. */
  token: string;
  /** Where questions and trace leases go: the dashboard's own connection (admin.nats) or the gate's. */
  bus: Bus;
  /** The permission refusals of `bus`'s server: a refused question answers 502 instead of an empty list. */
  refusals?: BusRefusals;
  /** `admin.tls`: both files set = https:// only. */
  tls?: { certFile: string; keyFile: string };
  prefix?: string;
  log?: Log;
  /** How long a status poll awaits the gates' and nodes' answers. */
  statusWindowMs?: number;
}

export interface DashboardServer {
  readonly address: { host: string; port: number };
  /** 'https' when admin.tls is set. */
  readonly scheme: 'http' | 'https';
  /** State-changing calls refused for a missing or wrong token. */
  readonly refused: () => number;
  /** Live traces open now (each holds a trace lease on every gate). */
  readonly liveTraces: () => number;
  /** Ends the live traces, stops listening, drops open connections; safe to call twice. */
  close(): Promise<void>;
}

type Answer = Record<string, unknown>;

/** Live traces at once: each holds a lease on every gate, so a page left open in many tabs stays bounded. */
const MAX_TRACES = 8;
const MAX_BODY_BYTES = 4096;
const ID = /^[A-Za-z0-9_-]+$/;
/** How long a sessions question awaits its one gate (a gate under load answers within it; nobody = 404). */
const SESSIONS_WINDOW_MS = 2000;

/** `admin.tls` files, read once at start so a wrong path stops the process with one line. */
function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(key, path, `${key} could not be read: ${path}`, { cause: err });
    }
  };
  return { cert: read('admin.tls.certFile', certFile), key: read('admin.tls.keyFile', keyFile) };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

async function readBody(req: IncomingMessage): Promise<Answer | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(c);
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Answer) : undefined;
  } catch {
    return undefined;
  }
}

/** Listens on `addr`; ConfigError for a bad address, UnavailableError when it cannot listen. */
export async function startDashboardServer(o: DashboardServerOptions): Promise<DashboardServer> {
  const listen = parseListenAddr(o.addr);
  if (listen === undefined)
    throw new ConfigError('admin.addr', o.addr, `admin.addr must be host:port, got ${JSON.stringify(o.addr)}`);
  const log = o.log ?? silentLog;
  const subjects = new Subjects(o.prefix);
  const page = readFileSync(packageUrl('web/admin/index.html'));
  const tokenDigest = o.token === '' ? undefined : digest(o.token);
  const traces = new Set<() => Promise<void>>();
  /** The last counters seen per instance, for message rates between two polls. */
  const last = new Map<string, { at: number; count: number }>();
  let refused = 0;

  /** Whether a refused subject is one of the dashboard's (questions, their replies, trace leases and streams). */
  const ours = (subject: string): boolean =>
    subject.startsWith(subjects.adminAll()) ||
    subject === subjects.traceControl() ||
    subject.startsWith(subjects.traceAll().replace(/\*$/, ''));
  /** Throws BusRefusedError when the server refused one of the dashboard's subjects since `mark`. */
  const checkRefused = (mark: number | undefined): void => {
    const refusal = mark === undefined ? undefined : o.refusals?.since(mark, ours);
    if (refusal !== undefined)
      throw new BusRefusedError(`the NATS server refused the dashboard's question: ${refusal} (see admin.nats.*)`);
  };
  const ask = async (subject: string, body: Answer, windowMs: number, expect?: number): Promise<Answer[]> => {
    const mark = o.refusals?.mark();
    const answers = await collectReplies({ bus: o.bus, prefix: o.prefix, subject, body, windowMs, expect });
    if (answers.length === 0 && mark !== undefined) {
      // A refusal comes after the publish it refuses: a round trip and one turn later it has been reported.
      await o.bus.flush().catch(() => {});
      await new Promise<void>((r) => setImmediate(r));
    }
    checkRefused(mark);
    return answers;
  };

  const authorized = (req: IncomingMessage): boolean => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    // Digests of equal length, so the comparison takes the same time whatever the guess.
    return tokenDigest !== undefined && m !== null && timingSafeEqual(digest(m[1] as string), tokenDigest);
  };

  async function status(res: ServerResponse): Promise<void> {
    const all = await ask(subjects.adminAll(), { cmd: 'status' }, o.statusWindowMs ?? 300);
    const now = Date.now();
    for (const a of all) {
      const count = a.kind === 'gate' ? Number(a.framesIn) + Number(a.framesOut) : Number(a.delivered);
      const prev = last.get(String(a.id));
      a.messagesPerSec =
        prev && now > prev.at && Number.isFinite(count) ? ((count - prev.count) * 1000) / (now - prev.at) : 0;
      last.set(String(a.id), { at: now, count });
    }
    all.sort((a, b) => `${a.kind}${a.id}`.localeCompare(`${b.kind}${b.id}`));
    json(res, 200, { at: now, instances: all });
  }

  async function trace(req: IncomingMessage, res: ServerResponse, uid: number): Promise<void> {
    if (traces.size >= MAX_TRACES) {
      log.warn('admin trace refused', { reason: `${MAX_TRACES} traces already open` });
      json(res, 503, { error: `${MAX_TRACES} live traces already open` });
      return;
    }
    const mark = o.refusals?.mark();
    const stream = await TraceStream.open({ bus: o.bus, prefix: o.prefix, uid });
    // Events that come after the page went away are dropped with the stream (its close ends the lease).
    // Gates may answer the lease before the refusal check is done: their events wait for the head.
    let early: string[] | undefined = [];
    const send = (text: string): void => {
      if (early) early.push(text);
      else if (!res.destroyed && !res.writableEnded) res.write(text);
    };
    let holder: LeaseHolder | undefined;
    try {
      holder = await LeaseHolder.open({
        bus: o.bus,
        prefix: o.prefix,
        uid,
        onGate: (g) => send(`event: gate\ndata: ${JSON.stringify(g)}\n\n`),
      });
      // The lease and the stream's subscription are refused (or not) by now: fail before answering 200.
      await o.bus.flush();
      await new Promise<void>((r) => setImmediate(r));
      checkRefused(mark);
    } catch (err) {
      await holder?.close();
      await stream.close();
      throw err;
    }
    const lease = holder;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': following\n\n');
    for (const text of early) res.write(text);
    early = undefined;
    const reading = (async () => {
      for await (const t of stream) send(`data: ${formatTransitionJson(t)}\n\n`);
    })();
    let ended: Promise<void> | undefined;
    const end = (): Promise<void> => {
      ended ??= (async () => {
        traces.delete(end);
        await lease.close();
        await stream.close();
        await reading;
        res.end();
      })();
      return ended;
    };
    traces.add(end);
    // The response's close is the page going away (the request's may come as soon as its empty body is read);
    // one that came during the awaits above ends the lease at once instead of holding it until shutdown.
    res.once('close', () => void end());
    if (res.destroyed || req.socket.destroyed) void end();
  }

  async function change(req: IncomingMessage, res: ServerResponse, what: 'kick' | 'drain'): Promise<void> {
    if (!authorized(req)) {
      refused++;
      log.warn('admin call refused', { call: what, reason: 'missing or wrong bearer token' });
      res.setHeader('www-authenticate', 'Bearer');
      json(res, 401, { error: 'this call needs Authorization: Bearer <admin.token>' });
      return;
    }
    const body = await readBody(req);
    if (!body) return json(res, 400, { error: `body must be a JSON object under ${MAX_BODY_BYTES} bytes` });
    if (what === 'kick') {
      const uid = Number(body.uid);
      if (!Number.isSafeInteger(uid) || uid === 0) return json(res, 400, { error: 'kick needs a uid' });
      const all = await ask(subjects.adminAll(), { cmd: 'kick', uid, force: body.force === true }, 1000);
      const failed = all.find((a) => typeof a.error === 'string');
      if (failed) return json(res, 502, failed);
      if (all.length === 0) return json(res, 404, { error: `unknown uid ${uid}: no gate holds a session for it` });
      log.info('kicked by admin dashboard', { uid });
      return json(res, 200, { kicked: all });
    }
    const id = String(body.id ?? '');
    if (!ID.test(id)) return json(res, 400, { error: `${JSON.stringify(id)} is not an instance id` });
    const [a] = await ask(subjects.admin(id), { cmd: 'drain' }, 3000, 1);
    if (!a) return json(res, 404, { error: `no such instance ${id}` });
    if (typeof a.error === 'string') return json(res, 502, a);
    log.info('drained by admin dashboard', { id });
    json(res, 200, a);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const key = `${req.method} ${url.pathname}`;
    switch (key) {
      case 'GET /':
      case 'GET /index.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(page);
        return;
      case 'GET /favicon.ico':
        res.writeHead(204).end();
        return;
      case 'GET /api/status':
        return status(res);
      case 'GET /api/locate':
      case 'GET /api/trace': {
        const uid = Number(url.searchParams.get('uid'));
        if (!Number.isSafeInteger(uid) || uid === 0) return json(res, 400, { error: 'needs ?uid=N' });
        if (key === 'GET /api/trace') return trace(req, res, uid);
        const all = await ask(subjects.adminAll(), { cmd: 'locate', uid }, 1000);
        if (all.length === 0) return json(res, 404, { error: `unknown uid ${uid}` });
        return json(res, 200, { located: all });
      }
      case 'GET /api/sessions': {
        const gate = url.searchParams.get('gate') ?? '';
        if (!ID.test(gate)) return json(res, 400, { error: 'needs ?gate=ID (an instance id)' });
        // One gate's own subject, as `duet sessions --gate ID` asks: nobody answering means no such gate.
        const [a] = await ask(subjects.admin(gate), { cmd: 'sessions' }, SESSIONS_WINDOW_MS, 1);
        if (!a) return json(res, 404, { error: `no such gate ${gate}` });
        if (typeof a.error === 'string') return json(res, 502, a);
        return json(res, 200, { gate, ...a });
      }
      case 'POST /api/kick':
        return change(req, res, 'kick');
      case 'POST /api/drain':
        return change(req, res, 'drain');
      default:
        json(res, 404, {
          error: 'not found: try /, /api/status, /api/locate, /api/sessions, /api/trace, /api/kick, /api/drain',
        });
    }
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      log.warn('admin request failed', { url: req.url, err: errorMessage(err) });
      // A refusal by the NATS server is the bus's answer, not the dashboard's failure: 502, and it says why.
      if (!res.headersSent) json(res, err instanceof BusRefusedError ? 502 : 500, { error: errorMessage(err) });
      else res.end();
    });
  };
  const tls = o.tls?.certFile && o.tls.keyFile ? readTls(o.tls.certFile, o.tls.keyFile) : undefined;
  // With a certificate the listener speaks TLS only: a plain http:// request never reaches a handler.
  const server: Server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  server.keepAliveTimeout = 5000;
  // An address without a host stays on loopback: the dashboard reaches every gate and node of the cluster.
  const host = listen.host === '' ? '127.0.0.1' : listen.host;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new UnavailableError(`admin server cannot listen on ${o.addr}: ${err.code ?? err.message}`));
    server.once('error', onError);
    server.listen(listen.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : listen.port;
  let closing: Promise<void> | undefined;
  return {
    address: { host, port },
    scheme: tls ? 'https' : 'http',
    refused: () => refused,
    liveTraces: () => traces.size,
    close: () => {
      closing ??= (async () => {
        await Promise.all([...traces].map((end) => end()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
