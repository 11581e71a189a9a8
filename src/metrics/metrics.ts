/**
 * Prometheus metrics of one process, in its own prom-client Registry (never the global default one, so two
 * processes' worth of gates in one test process do not collide).
 *
 * The hot path only adds to plain numbers: either this object's own (frameIn, drop…) or the counters a gate or
 * node already keeps (`watchGate` / `watchNode`, read at scrape time). prom-client's label hashing runs only when
 * /metrics is scraped, in each metric's collect().
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ADMISSION_SERIES, type AdmissionView, gateAdmission } from './admission-series.js';

/** Drop reasons every gate reports, shown as 0 before the first drop (matches gate/counters.ts). */
export const DROP_REASONS = [
  'unknown_route',
  'internal_route',
  'unbound_stateful',
  'unbound_authorized',
  'no_node',
  'not_located',
  'locator_error',
  'not_active',
  'rate_limited',
  'slow_consumer',
] as const;
export const MALFORMED_REASONS = ['short', 'size_mismatch', 'too_large', 'other'] as const;
export const SESSION_STATES = ['handshake', 'unbound', 'bound', 'closing', 'suspended'] as const;

/** Seconds; from 0.25 ms (a local handler) to 10 s (callTimeout territory). */
export const ROUTE_LATENCY_BUCKETS = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
/** Routes come from registered handlers, but cap the label set anyway: later routes share the label "other". */
export const MAX_ROUTE_LABELS = 1000;

/** What a gate already counts (structurally the gate's GateCounters). */
export interface GateCountersView {
  readonly framesIn: number;
  readonly bytesIn: number;
  readonly framesOut: number;
  readonly bytesOut: number;
  readonly drops: Readonly<Record<string, number>>;
  readonly malformed: Readonly<Record<string, number>>;
  readonly slowConsumers?: number;
  /** Control operations dropped for a missing or bad signature (bus.opsSecret). */
  readonly forgedOps?: number;
}

export interface GateSource {
  readonly counters: GateCountersView;
  /** Live WebSocket connections. */
  connections(): number;
  /** Sessions per state name; optional, the gate may report states through sessionMoved() instead. */
  sessionsByState?(): Readonly<Record<string, number>>;
  /** The listener's own counts: sockets refused or reaped before a session existed, and sockets not upgraded yet. */
  transport?(): { readonly refused: Readonly<Record<string, number>>; readonly pending?: number };
  /** The login admission (gate/login-admission.ts): requests of unbound sessions in flight, sessions held unread. */
  admission?(): AdmissionView;
}

/** What a node already counts (structurally the node's NodeCounters). */
export interface NodeCountersView {
  readonly delivered: number;
  readonly events: number;
  readonly handlerErrors: number;
  readonly unknownRoute: number;
  readonly badPackets: number;
}

export interface MetricsOptions {
  /** Labels on every series, e.g. `{ role: 'gate', instance: gid }`. */
  labels?: Record<string, string>;
  /** Metric name prefix; default "duet_". */
  prefix?: string;
}

type Cell = { n: number };

function cells(names: readonly string[]): Map<string, Cell> {
  return new Map(names.map((n) => [n, { n: 0 }]));
}

function bump(map: Map<string, Cell>, key: string, by: number): void {
  const c = map.get(key);
  if (c === undefined) map.set(key, { n: by });
  else c.n += by;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #gates = new Set<GateSource>();
  readonly #nodes = new Set<NodeCountersView>();
  readonly #loop = monitorEventLoopDelay({ resolution: 10 });
  readonly #routeLatency: Histogram<'route'>;
  readonly #routeChildren = new Map<number, { observe(v: number): void }>();
  readonly #rpc: Histogram<'service' | 'method' | 'outcome'>;
  readonly #rpcChildren = new Map<string, { observe(v: number): void }>();
  #closed = false;

  // Own hot-path numbers, added to the watched sources' at scrape time.
  #connections = 0;
  #framesIn = 0;
  #bytesIn = 0;
  #framesOut = 0;
  #bytesOut = 0;
  readonly #sessions = cells(SESSION_STATES);
  readonly #drops = cells(DROP_REASONS);
  readonly #malformed = cells(MALFORMED_REASONS);
  readonly #busErrors = new Map<string, Cell>();
  readonly #locatorErrors = new Map<string, Cell>();

  constructor(opts: MetricsOptions = {}) {
    const p = opts.prefix ?? 'duet_';
    const registers = [this.registry];
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    this.#loop.enable();

    const gateSum = (pick: (c: GateCountersView) => number, own: number): number => {
      let n = own;
      for (const g of this.#gates) n += pick(g.counters);
      return n;
    };
    const gateRecordSum = (own: Map<string, Cell>, pick: (c: GateCountersView) => Readonly<Record<string, number>>) => {
      const out = new Map<string, number>();
      for (const [k, c] of own) out.set(k, c.n);
      for (const g of this.#gates)
        for (const [k, v] of Object.entries(pick(g.counters))) out.set(k, (out.get(k) ?? 0) + v);
      return out;
    };
    const nodeSum = (pick: (c: NodeCountersView) => number): number => {
      let n = 0;
      for (const c of this.#nodes) n += pick(c);
      return n;
    };
    /** A counter whose value is computed at scrape time (prom-client counters have no set()). */
    const totalCounter = (name: string, help: string, value: () => number): void => {
      const c: Counter = new Counter({
        name,
        help,
        registers,
        collect: () => {
          c.reset();
          c.inc(value());
        },
      });
    };
    const labelledCounter = (name: string, help: string, label: string, values: () => Map<string, number>): void => {
      const c: Counter<string> = new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect: () => {
          c.reset();
          for (const [k, v] of values()) c.inc({ [label]: k }, v);
        },
      });
    };

    /** A gauge read at scrape time. */
    const gauge = (name: string, help: string, value: () => number): void => {
      const g: Gauge = new Gauge({ name, help, registers, collect: () => g.set(value()) });
    };
    gauge(`${p}connections`, 'Live WebSocket connections.', () => {
      let n = this.#connections;
      for (const g of this.#gates) n += g.connections();
      return n;
    });
    /** A labelled gauge whose series are all recomputed at scrape time. */
    const labelledGauge = (name: string, help: string, label: string, values: () => Map<string, number>): void => {
      const g: Gauge<string> = new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect: () => {
          g.reset();
          for (const [k, v] of values()) g.set({ [label]: k }, v);
        },
      });
    };
    labelledGauge(`${p}sessions`, 'Sessions by state.', 'state', () => {
      const by = new Map<string, number>();
      for (const [k, c] of this.#sessions) by.set(k, c.n);
      for (const g of this.#gates) {
        for (const [k, v] of Object.entries(g.sessionsByState?.() ?? {})) by.set(k, (by.get(k) ?? 0) + v);
      }
      return by;
    });

    totalCounter(`${p}frames_in_total`, 'Client frames received.', () => gateSum((c) => c.framesIn, this.#framesIn));
    totalCounter(`${p}frames_out_total`, 'Frames sent to clients.', () => gateSum((c) => c.framesOut, this.#framesOut));
    totalCounter(`${p}bytes_in_total`, 'Client frame bytes received.', () => gateSum((c) => c.bytesIn, this.#bytesIn));
    totalCounter(`${p}bytes_out_total`, 'Frame bytes sent to clients.', () =>
      gateSum((c) => c.bytesOut, this.#bytesOut),
    );
    labelledCounter(`${p}drops_total`, 'Client frames dropped, by reason.', 'reason', () =>
      gateRecordSum(this.#drops, (c) => c.drops),
    );
    labelledCounter(`${p}malformed_frames_total`, 'Malformed client frames, by reason.', 'reason', () =>
      gateRecordSum(this.#malformed, (c) => c.malformed),
    );
    totalCounter(`${p}slow_consumers_total`, 'Connections closed because they did not read fast enough.', () =>
      gateSum((c) => c.slowConsumers ?? 0, 0),
    );
    labelledCounter(
      `${p}connections_refused_total`,
      'Sockets refused or closed before becoming a session, by reason.',
      'reason',
      () => {
        const out = new Map<string, number>();
        for (const g of this.#gates)
          for (const [k, v] of Object.entries(g.transport?.().refused ?? {})) out.set(k, (out.get(k) ?? 0) + v);
        return out;
      },
    );
    gauge(`${p}connections_pending`, 'Sockets accepted and not yet upgraded to WebSocket.', () => {
      let n = 0;
      for (const g of this.#gates) n += g.transport?.().pending ?? 0;
      return n;
    });
    totalCounter(
      `${p}forged_ops_total`,
      'Gate operations dropped for a missing or bad signature (bus.opsSecret).',
      () => gateSum((c) => c.forgedOps ?? 0, 0),
    );
    for (const [name, help, kind, f] of ADMISSION_SERIES) {
      (kind === 'gauge' ? gauge : totalCounter)(`${p}${name}`, help, () => gateAdmission(this.#gates, f));
    }
    const plain = (m: Map<string, Cell>) => () => new Map([...m].map(([k, c]) => [k, c.n]));
    labelledCounter(`${p}bus_errors_total`, 'Failed bus operations, by operation.', 'op', plain(this.#busErrors));
    labelledCounter(
      `${p}locator_errors_total`,
      'Failed locator operations, by operation.',
      'op',
      plain(this.#locatorErrors),
    );

    totalCounter(`${p}node_requests_total`, 'Client packets delivered to node handlers.', () =>
      nodeSum((c) => c.delivered),
    );
    totalCounter(`${p}node_events_total`, 'Cluster events (connect, reconnect, disconnect) handled.', () =>
      nodeSum((c) => c.events),
    );
    totalCounter(`${p}node_handler_errors_total`, 'Node handlers that threw or rejected.', () =>
      nodeSum((c) => c.handlerErrors),
    );
    labelledCounter(`${p}node_rejected_total`, 'Packets a node could not route, by reason.', 'reason', () => {
      return new Map([
        ['unknown_route', nodeSum((c) => c.unknownRoute)],
        ['bad_packet', nodeSum((c) => c.badPackets)],
      ]);
    });

    this.#routeLatency = new Histogram({
      name: `${p}route_latency_seconds`,
      help: 'Time a node takes to handle a client request, by route.',
      labelNames: ['route'],
      buckets: ROUTE_LATENCY_BUCKETS,
      registers,
    });

    // The count of this histogram is the call counter: one series per service, method and outcome (ok or a code).
    this.#rpc = new Histogram({
      name: `${p}service_call_seconds`,
      help: 'Service calls this process made (mesh RPC), by service, method and outcome (ok or the error code).',
      labelNames: ['service', 'method', 'outcome'],
      buckets: ROUTE_LATENCY_BUCKETS,
      registers,
    });

    labelledGauge(`${p}event_loop_lag_seconds`, 'Event-loop delay since the previous scrape.', 'stat', () => {
      const h = this.#loop;
      // The histogram is empty until the loop has turned a few times at the sampling resolution.
      const sec = (ns: number) => (Number.isFinite(ns) && h.count > 0 ? ns / 1e9 : 0);
      const stats = new Map([
        ['p50', sec(h.percentile(50))],
        ['p99', sec(h.percentile(99))],
        ['max', sec(h.max)],
        ['mean', sec(h.mean)],
      ]);
      h.reset();
      return stats;
    });

    gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
    gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => process.memoryUsage().heapUsed);
    totalCounter('process_cpu_seconds_total', 'User and system CPU time, in seconds.', () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    });
  }

  // ---- hot path: plain additions only ----

  connectionOpened(): void {
    this.#connections++;
  }
  connectionClosed(): void {
    this.#connections--;
  }
  /** A session changed state; `from` undefined = new session, `to` undefined = gone. */
  sessionMoved(from: string | undefined, to: string | undefined): void {
    if (from !== undefined) bump(this.#sessions, from, -1);
    if (to !== undefined) bump(this.#sessions, to, 1);
  }
  frameIn(bytes: number): void {
    this.#framesIn++;
    this.#bytesIn += bytes;
  }
  frameOut(bytes: number): void {
    this.#framesOut++;
    this.#bytesOut += bytes;
  }
  /** Reasons are code-defined names (DROP_REASONS and the like), never client input: each one is a series. */
  drop(reason: string): void {
    bump(this.#drops, reason, 1);
  }
  malformed(reason: string): void {
    bump(this.#malformed, reason, 1);
  }
  busError(op: string): void {
    bump(this.#busErrors, op, 1);
  }
  locatorError(op: string): void {
    bump(this.#locatorErrors, op, 1);
  }
  /** One handled request at a node: `seconds` from delivery to the handler settling. */
  observeRouteLatency(route: number, seconds: number): void {
    let child = this.#routeChildren.get(route);
    if (child === undefined) {
      const label = this.#routeChildren.size < MAX_ROUTE_LABELS ? String(route) : 'other';
      child = this.#routeLatency.labels(label);
      this.#routeChildren.set(route, child);
    }
    child.observe(seconds);
  }

  /** One service call this process made; names come from code (services, methods, error codes), not clients. */
  observeServiceCall(service: string, method: string, outcome: string, seconds: number): void {
    const key = `${service}\u0000${method}\u0000${outcome}`;
    let child = this.#rpcChildren.get(key);
    if (child === undefined) {
      child =
        this.#rpcChildren.size < MAX_ROUTE_LABELS
          ? this.#rpc.labels(service, method, outcome)
          : this.#rpc.labels('other', 'other', 'other');
      this.#rpcChildren.set(key, child);
    }
    child.observe(seconds);
  }

  // ---- sources read at scrape time ----

  /** Reads a gate's own counters at each scrape; returns the function that stops reading them. */
  watchGate(source: GateSource): () => void {
    this.#gates.add(source);
    return () => this.#gates.delete(source);
  }

  /** Reads a node's counters at each scrape; returns the function that stops reading them. */
  watchNode(counters: NodeCountersView): () => void {
    this.#nodes.add(counters);
    return () => this.#nodes.delete(counters);
  }

  /** The exposition text (Prometheus 0.0.4 format). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops the event-loop monitor; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#loop.disable();
  }
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  return new Metrics(opts);
}
