import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect } from 'node:net';
import { isDeepStrictEqual } from 'node:util';

/**
 * An HTTP stand-in for the few Consul agent/health endpoints duet's ConsulRegistry uses. Consul itself cannot be
 * installed on this machine (no binary or package available offline), so the adapter is tested against this
 * server, which keeps services the way a single Consul agent does:
 *   PUT /v1/agent/service/register           Name, ID, Meta (Consul's limits enforced: 400), Checks (TTL / TCP)
 *   PUT /v1/agent/service/deregister/:id     404 for an unknown id
 *   PUT /v1/agent/check/{pass,warn,fail}/:id TTL update (?note=); PUT /v1/agent/check/update/:id {Status, Output}
 *   GET /v1/health/service/:name             ?passing, blocking with ?index & ?wait, X-Consul-Index header
 * A TTL check with no update for TTL turns critical; a service critical for longer than its
 * DeregisterCriticalServiceAfter is reaped (real Consul reaps every 30 s with a 1 min minimum; the stand-in sweeps
 * every `sweepIntervalMs` so tests can use short values). The index only moves when a service is added, changed,
 * removed or a check changes status, so a TTL refresh that keeps a check passing wakes no blocking query (as in
 * Consul, where an unchanged check is not synced to the catalog).
 *
 * Every request is recorded. Anything else gets 404 and is recorded as unexpected. `checkContract()` compares the
 * recorded traffic with a fixture in test/fixtures/consul (the "recorded contract", after undici's SnapshotAgent):
 * set CONSUL_FIXTURE_RECORD=1 to (re)write the fixture from a run instead of checking it.
 */

export interface RecordedRequest {
  method: string;
  /** Path without the query string, decoded. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
  status: number;
  responseBody: unknown;
  /** No such endpoint here: answered 404. */
  unexpected: boolean;
  /** Answered with an injected failure (see failNext). */
  injected: boolean;
  /** The client left before the answer (an aborted blocking query): no response was sent. */
  aborted: boolean;
  /** When it arrived (Date.now()). */
  at: number;
  /** The X-Consul-Token header, if any. */
  token: string | undefined;
}

export interface StandinCheck {
  checkId: string;
  type: 'ttl' | 'tcp';
  status: 'passing' | 'warning' | 'critical';
  output: string;
  ttlMs: number;
  tcp: string;
  intervalMs: number;
  timeoutMs: number;
  deregisterAfterMs: number;
  /** TTL deadline (Date.now() ms). */
  expiresAt: number;
  criticalSince: number | undefined;
  nextProbeAt: number;
  probing: boolean;
}

export interface StandinService {
  id: string;
  name: string;
  address: string;
  port: number;
  meta: Record<string, string>;
  checks: StandinCheck[];
}

export interface ConsulStandin extends AsyncDisposable {
  /** `127.0.0.1:<port>`, what ConsulRegistry takes as `addr`. */
  readonly addr: string;
  readonly port: number;
  readonly requests: readonly RecordedRequest[];
  /** Current services by id (live objects: tests read them, do not mutate). */
  readonly services: ReadonlyMap<string, StandinService>;
  /** The index of one service name, as X-Consul-Index reports it. */
  indexOf(name: string): number;
  unexpected(): RecordedRequest[];
  /** The next `count` requests whose path starts with `pathPrefix` get `status` (default 500). */
  failNext(pathPrefix: string, count: number, status?: number): void;
  /** Cancels every pending failNext. */
  clearFailures(): void;
  /** Blocking queries waiting right now. */
  readonly waiting: number;
  /** Open client connections (keep-alive sockets included). */
  connections(): Promise<number>;
  close(): Promise<void>;
}

export interface ConsulStandinOptions {
  /** How often TTL expiry, TCP probes and the reaper run. Default 25 ms. */
  sweepIntervalMs?: number;
  /** Serve HTTPS with this certificate (PEM files), as an agent with TLS on does; with `clientCaFile`, only to
   * clients presenting a certificate signed by it (Consul's verify_incoming). */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
}

const META_KEY_RE = /^[A-Za-z0-9_-]+$/;
const MAX_WAIT_MS = 600_000;

/** Go-style duration ("10s", "500ms", "1m", "1.5h"), in ms; undefined when malformed. */
export function parseDurationMs(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(s);
  if (!m) return undefined;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return Number(m[1]) * (unit[m[2] ?? 's'] ?? 1000);
}

interface Waiter {
  name: string;
  index: number;
  wake: () => void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function startConsulStandin(opts: ConsulStandinOptions = {}): Promise<ConsulStandin> {
  const services = new Map<string, StandinService>();
  const nameIndex = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const waiters = new Set<Waiter>();
  const failures: { prefix: string; count: number; status: number }[] = [];
  let index = 1;

  const bump = (name: string): void => {
    index++;
    nameIndex.set(name, index);
    for (const w of waiters) if (w.name === name && w.index < index) w.wake();
  };
  const indexOf = (name: string): number => nameIndex.get(name) ?? 1;

  const setStatus = (svc: StandinService, check: StandinCheck, status: StandinCheck['status'], output: string) => {
    check.output = output;
    if (check.status === status) return;
    check.status = status;
    check.criticalSince = status === 'critical' ? Date.now() : undefined;
    bump(svc.name);
  };

  const probe = (svc: StandinService, check: StandinCheck): void => {
    check.probing = true;
    const [host, port] = [check.tcp.slice(0, check.tcp.lastIndexOf(':')), Number(check.tcp.split(':').pop())];
    const sock = netConnect({ host, port });
    const done = (ok: boolean, output: string) => {
      clearTimeout(timer);
      sock.destroy();
      check.probing = false;
      if (services.get(svc.id) === svc) setStatus(svc, check, ok ? 'passing' : 'critical', output);
    };
    const timer = setTimeout(() => done(false, 'dial timeout'), check.timeoutMs);
    sock.once('connect', () => done(true, `TCP connect ${check.tcp}: Success`));
    sock.once('error', (err) => done(false, err.message));
  };

  const sweep = (): void => {
    const now = Date.now();
    for (const svc of [...services.values()]) {
      for (const check of svc.checks) {
        if (check.type === 'ttl' && check.status !== 'critical' && now >= check.expiresAt) {
          setStatus(svc, check, 'critical', 'TTL expired');
        }
        if (check.type === 'tcp' && !check.probing && now >= check.nextProbeAt) {
          check.nextProbeAt = now + check.intervalMs;
          probe(svc, check);
        }
        if (
          check.deregisterAfterMs > 0 &&
          check.criticalSince !== undefined &&
          now - check.criticalSince > check.deregisterAfterMs &&
          services.get(svc.id) === svc
        ) {
          services.delete(svc.id);
          bump(svc.name);
        }
      }
    }
  };
  const sweeper = setInterval(sweep, opts.sweepIntervalMs ?? 25);

  const parseChecks = (body: Record<string, unknown>, serviceId: string): StandinCheck[] | string => {
    const raw = Array.isArray(body.Checks) ? body.Checks : body.Check !== undefined ? [body.Check] : [];
    const checks: StandinCheck[] = [];
    for (const [i, c] of raw.entries()) {
      if (!isRecord(c)) return 'check must be an object';
      const ttlMs = c.TTL === undefined ? 0 : parseDurationMs(c.TTL);
      const intervalMs = c.Interval === undefined ? 0 : parseDurationMs(c.Interval);
      const timeoutMs = c.Timeout === undefined ? 10_000 : parseDurationMs(c.Timeout);
      const deregisterAfterMs =
        c.DeregisterCriticalServiceAfter === undefined ? 0 : parseDurationMs(c.DeregisterCriticalServiceAfter);
      if (
        ttlMs === undefined ||
        intervalMs === undefined ||
        timeoutMs === undefined ||
        deregisterAfterMs === undefined
      ) {
        return 'invalid duration in check';
      }
      const isTcp = typeof c.TCP === 'string' && c.TCP !== '';
      if (!isTcp && ttlMs === 0) return 'check must have TTL or TCP and Interval';
      if (isTcp && intervalMs === 0) return 'TCP check needs an Interval';
      const status = c.Status === 'passing' || c.Status === 'warning' ? c.Status : 'critical';
      const defaultId = raw.length > 1 ? `service:${serviceId}:${i + 1}` : `service:${serviceId}`;
      checks.push({
        checkId: typeof c.CheckID === 'string' && c.CheckID !== '' ? c.CheckID : defaultId,
        type: isTcp ? 'tcp' : 'ttl',
        status,
        output: '',
        ttlMs,
        tcp: isTcp ? String(c.TCP) : '',
        intervalMs,
        timeoutMs,
        deregisterAfterMs,
        expiresAt: Date.now() + ttlMs,
        criticalSince: status === 'critical' ? Date.now() : undefined,
        nextProbeAt: 0,
        probing: false,
      });
    }
    return checks;
  };

  const validateMeta = (meta: unknown): Record<string, string> | string => {
    if (meta === undefined) return {};
    if (!isRecord(meta)) return 'Meta must be an object';
    const out: Record<string, string> = {};
    const keys = Object.keys(meta);
    if (keys.length > 64) return `Node metadata cannot contain more than 64 key/value pairs`;
    for (const k of keys) {
      const v = meta[k];
      if (typeof v !== 'string') return `Meta value for ${k} must be a string`;
      if (!META_KEY_RE.test(k)) return `Key contains invalid characters`;
      if (k.length > 128) return `Key is too long (limit: 128 characters)`;
      if (k.startsWith('consul-')) return `Key prefix 'consul-' is reserved for internal use`;
      if (v.length > 512) return `Value is too long (limit: 512 characters)`;
      out[k] = v;
    }
    return out;
  };

  const findCheck = (checkId: string): [StandinService, StandinCheck] | undefined => {
    for (const svc of services.values()) {
      const c = svc.checks.find((x) => x.checkId === checkId);
      if (c) return [svc, c];
    }
    return undefined;
  };

  const healthEntries = (name: string, passingOnly: boolean): unknown[] =>
    [...services.values()]
      .filter((s) => s.name === name)
      .filter((s) => !passingOnly || s.checks.every((c) => c.status === 'passing'))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((s) => ({
        Node: { Node: 'standin', Address: '127.0.0.1', Datacenter: 'dc1' },
        Service: { ID: s.id, Service: s.name, Tags: [], Address: s.address, Port: s.port, Meta: s.meta },
        Checks: [
          { Node: 'standin', CheckID: 'serfHealth', Status: 'passing', ServiceID: '', ServiceName: '' },
          ...s.checks.map((c) => ({
            Node: 'standin',
            CheckID: c.checkId,
            Status: c.status,
            Output: c.output,
            ServiceID: s.id,
            ServiceName: s.name,
            Type: c.type,
          })),
        ],
      }));

  type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

  const handle = async (
    method: string,
    path: string,
    query: Record<string, string>,
    body: unknown,
    res: ServerResponse,
  ): Promise<Reply | undefined> => {
    const route = (verb: string, re: RegExp): RegExpExecArray | null => (method === verb ? re.exec(path) : null);
    let m = route('PUT', /^\/v1\/agent\/service\/register$/);
    if (m) {
      if (!isRecord(body) || typeof body.Name !== 'string' || body.Name === '') {
        return { status: 400, body: 'Missing service name' };
      }
      const id = typeof body.ID === 'string' && body.ID !== '' ? body.ID : body.Name;
      const meta = validateMeta(body.Meta);
      if (typeof meta === 'string') return { status: 400, body: `Invalid Service Meta: ${meta}` };
      const checks = parseChecks(body, id);
      if (typeof checks === 'string') return { status: 400, body: `Invalid check: ${checks}` };
      const prev = services.get(id);
      services.set(id, {
        id,
        name: body.Name,
        address: typeof body.Address === 'string' ? body.Address : '',
        port: typeof body.Port === 'number' ? body.Port : 0,
        meta,
        checks,
      });
      if (prev && prev.name !== body.Name) bump(prev.name);
      bump(body.Name);
      return { status: 200 };
    }
    m = route('PUT', /^\/v1\/agent\/service\/deregister\/(.+)$/);
    if (m) {
      const svc = services.get(m[1] ?? '');
      if (!svc) return { status: 404, body: `Unknown service ID "${m[1]}". Ensure that the service ID is passed` };
      services.delete(svc.id);
      bump(svc.name);
      return { status: 200 };
    }
    m = route('PUT', /^\/v1\/agent\/check\/(pass|warn|fail|update)\/(.+)$/);
    if (m) {
      const found = findCheck(m[2] ?? '');
      if (!found) return { status: 404, body: `Unknown check ID "${m[2]}"` };
      const [svc, check] = found;
      if (check.type !== 'ttl') return { status: 500, body: `CheckID "${m[2]}" does not have associated TTL` };
      let status: StandinCheck['status'];
      let output = query.note ?? '';
      if (m[1] === 'update') {
        if (!isRecord(body) || !['passing', 'warning', 'critical'].includes(String(body.Status))) {
          return { status: 400, body: 'Invalid check status' };
        }
        status = body.Status === 'passing' ? 'passing' : body.Status === 'warning' ? 'warning' : 'critical';
        output = typeof body.Output === 'string' ? body.Output : '';
      } else status = m[1] === 'pass' ? 'passing' : m[1] === 'warn' ? 'warning' : 'critical';
      check.expiresAt = Date.now() + check.ttlMs;
      setStatus(svc, check, status, output);
      return { status: 200 };
    }
    m = route('GET', /^\/v1\/health\/service\/(.+)$/);
    if (m) {
      const name = m[1] ?? '';
      const passing = query.passing !== undefined && query.passing !== 'false';
      const want = Number(query.index ?? '0');
      const waitMs = Math.min(parseDurationMs(query.wait ?? '5m') ?? 300_000, MAX_WAIT_MS);
      if (Number.isFinite(want) && want > 0 && want >= indexOf(name)) {
        await new Promise<void>((resolve) => {
          const w: Waiter = { name, index: want, wake: () => finish() };
          const timer = setTimeout(() => finish(), waitMs);
          const finish = () => {
            clearTimeout(timer);
            waiters.delete(w);
            res.off('close', finish);
            resolve();
          };
          waiters.add(w);
          // res, not req: since Node 16 req 'close' fires once the body is read; res 'close' means the client left.
          res.once('close', finish);
        });
      }
      return {
        status: 200,
        body: healthEntries(name, passing),
        headers: { 'X-Consul-Index': String(indexOf(name)), 'X-Consul-Knownleader': 'true' },
      };
    }
    return undefined;
  };

  const tlsFiles = opts.tls;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let clientGone = false;
    res.once('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://standin');
      const method = req.method ?? 'GET';
      const path = decodeURIComponent(url.pathname);
      const query = Object.fromEntries(url.searchParams);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      const rec: RecordedRequest = {
        method,
        path,
        query,
        body,
        status: 0,
        responseBody: undefined,
        unexpected: false,
        injected: false,
        aborted: false,
        at: Date.now(),
        token: typeof req.headers['x-consul-token'] === 'string' ? req.headers['x-consul-token'] : undefined,
      };
      requests.push(rec);
      const send = (r: Reply) => {
        if (clientGone || res.destroyed) {
          rec.aborted = true;
          return;
        }
        rec.status = r.status;
        rec.responseBody = r.body;
        const isText = typeof r.body === 'string';
        res.writeHead(r.status, {
          'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json',
          ...r.headers,
        });
        res.end(r.body === undefined ? '' : isText ? r.body : JSON.stringify(r.body));
      };
      const failure = failures.find((f) => f.count > 0 && path.startsWith(f.prefix));
      if (failure) {
        failure.count--;
        rec.injected = true;
        send({ status: failure.status, body: 'injected failure' });
        return;
      }
      handle(method, path, query, body, res).then(
        (r) => {
          if (r) send(r);
          else {
            rec.unexpected = true;
            send({ status: 404, body: `unexpected endpoint ${method} ${path}` });
          }
        },
        (err: unknown) => send({ status: 500, body: String(err) }),
      );
    });
  };
  const server = tlsFiles
    ? createHttpsServer(
        {
          cert: readFileSync(tlsFiles.certFile),
          key: readFileSync(tlsFiles.keyFile),
          ...(tlsFiles.clientCaFile
            ? { ca: readFileSync(tlsFiles.clientCaFile), requestCert: true, rejectUnauthorized: true }
            : {}),
        },
        onRequest,
      )
    : createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      clearInterval(sweeper);
      for (const w of [...waiters]) w.wake();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    addr: `127.0.0.1:${port}`,
    port,
    requests,
    services,
    indexOf,
    unexpected: () => requests.filter((r) => r.unexpected),
    failNext: (prefix, count, status = 500) => {
      failures.push({ prefix, count, status });
    },
    clearFailures: () => {
      failures.length = 0;
    },
    get waiting() {
      return waiters.size;
    },
    connections: () =>
      new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** One request/response pair of a contract fixture. Strings "$any", "$string", "$number" match any such value. */
export interface ContractInteraction {
  request: { method: string; path: string; query?: Record<string, string>; body?: unknown };
  response: { status: number; body?: unknown };
}

export interface ContractFixture {
  description: string;
  interactions: ContractInteraction[];
}

/** Recorded traffic in fixture form; the blocking index is a placeholder (it depends on timing). */
export function toInteractions(requests: readonly RecordedRequest[]): ContractInteraction[] {
  const out: ContractInteraction[] = [];
  for (const r of requests) {
    if (r.injected || r.aborted) continue;
    const query = { ...r.query };
    if (query.index !== undefined) query.index = '$number';
    const i: ContractInteraction = {
      request: { method: r.method, path: r.path },
      response: { status: r.status },
    };
    if (Object.keys(query).length > 0) i.request.query = query;
    if (r.body !== undefined) i.request.body = r.body;
    if (r.responseBody !== undefined) i.response.body = r.responseBody;
    if (!out.some((o) => isDeepStrictEqual(o, i))) out.push(i);
  }
  return out;
}

function matches(expected: unknown, actual: unknown): boolean {
  if (expected === '$any' || isDeepStrictEqual(expected, actual)) return true;
  if (expected === '$string') return typeof actual === 'string';
  if (expected === '$number') return typeof actual === 'number' || (typeof actual === 'string' && /^\d+$/.test(actual));
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(e, actual[i]))
    );
  }
  if (isRecord(expected)) {
    if (!isRecord(actual)) return false;
    const ek = Object.keys(expected).sort();
    const ak = Object.keys(actual).sort();
    return isDeepStrictEqual(ek, ak) && ek.every((k) => matches(expected[k], actual[k]));
  }
  return isDeepStrictEqual(expected, actual);
}

/**
 * Compares recorded traffic with a fixture: every request the adapter made must match a fixture interaction and
 * every fixture interaction must have been seen. Returns the problems (empty = contract kept). With
 * CONSUL_FIXTURE_RECORD=1 it writes the fixture from this run instead and returns no problems.
 */
export function checkContract(fixturePath: string, requests: readonly RecordedRequest[]): string[] {
  const seen = toInteractions(requests);
  if (process.env.CONSUL_FIXTURE_RECORD === '1') {
    const previous = readFixture(fixturePath);
    // An entry the old fixture already covers keeps its hand-written placeholders, so re-recording is idempotent.
    const interactions: ContractInteraction[] = [];
    for (const s of seen) {
      const kept = previous.interactions.find((f) => matches(f, s)) ?? s;
      if (!interactions.includes(kept)) interactions.push(kept);
    }
    const fixture: ContractFixture = { description: previous.description, interactions };
    writeFileSync(fixturePath, `${JSON.stringify(fixture, null, 2)}\n`);
    return [];
  }
  const fixture: ContractFixture = JSON.parse(readFileSync(fixturePath, 'utf8'));
  const problems: string[] = [];
  for (const s of seen) {
    if (!fixture.interactions.some((f) => matches(f, s))) problems.push(`not in the contract: ${JSON.stringify(s)}`);
  }
  for (const f of fixture.interactions) {
    if (!seen.some((s) => matches(f, s))) problems.push(`contract entry never used: ${JSON.stringify(f)}`);
  }
  return problems;
}

function readFixture(path: string): ContractFixture {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (isRecord(parsed) && typeof parsed.description === 'string' && Array.isArray(parsed.interactions)) {
      return { description: parsed.description, interactions: parsed.interactions };
    }
  } catch {
    // a first recording: no fixture yet
  }
  return { description: '', interactions: [] };
}
