/**
 * The admin dashboard's own NATS identity (`admin.nats.*`). A locked-down server (config/nats-secure.conf) lets
 * only the admin user publish admin questions and trace leases, so a dashboard that asked over the gate's
 * connection would be refused: with an admin.nats key set it signs in on a connection of its own (bus.nats's
 * servers and TLS, admin.nats's user/pass/token/creds/nkey) and every refusal the server sends is kept, so the
 * HTTP API can answer 502 "Permissions Violation" instead of an empty list or a hang.
 */
import { type Authenticator, PermissionViolationError, type TlsOptions } from '@nats-io/transport-node';
import type { Bus } from '../bus/bus.js';
import { findCause } from '../bus/nats-errors.js';
import { natsSecurity } from '../bus/nats-security.js';
import type { DuetConfig } from '../config/schema.js';
import { ConfigError, DuetError, ErrorCode, type ErrorReporter } from '../errors.js';

export type AdminNatsConfig = DuetConfig['admin']['nats'];

/** Whether the dashboard signs in by itself: one or more admin.nats keys set (every key of the block counts). */
export function hasOwnIdentity(n: AdminNatsConfig): boolean {
  return Object.values(n).some((v) => v !== '');
}

/** The connect options of the dashboard's connection (a subset of the NATS bus adapter's options). */
export interface DashboardNatsOptions {
  servers: string[];
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  authenticator?: Authenticator;
  tls?: TlsOptions;
  onError?: ErrorReporter;
}

/** Opens a NATS bus; the composition root passes the NATS adapter's connect (src/admin stays adapter-free). */
export type ConnectDashboardBus = (o: DashboardNatsOptions) => Promise<Bus>;

/**
 * What the dashboard's connection is opened with: bus.nats's servers and TLS files, admin.nats's sign-in. Files
 * are read here (ConfigError naming the key for a missing or wrong one).
 */
export function dashboardNatsOptions(config: Pick<DuetConfig, 'bus' | 'admin'>): DashboardNatsOptions {
  if (config.bus.adapter !== 'nats')
    throw new ConfigError('admin.nats', undefined, 'admin.nats.* needs bus.adapter = "nats"');
  const b = config.bus.nats;
  const a = config.admin.nats;
  // Sign-in from admin.nats, TLS from bus.nats: errors name the block each file came from.
  const { authenticator } = natsSecurity({ credsFile: a.credsFile, nkeySeedFile: a.nkeySeedFile }, 'admin.nats');
  const { tls } = natsSecurity({ caFile: b.caFile, certFile: b.certFile, keyFile: b.keyFile }, 'bus.nats');
  return {
    servers: [...b.servers],
    name: `${b.name || 'duet'} admin dashboard`,
    user: a.user || undefined,
    pass: a.pass || undefined,
    token: a.token || undefined,
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** A question or lease the NATS server refused for the connection's permissions; the API answers 502. */
export class BusRefusedError extends DuetError {
  constructor(message: string) {
    super(ErrorCode.ILLEGAL_OPERATION, message);
    this.name = 'BusRefusedError';
  }
}

interface Refusal {
  seq: number;
  subject: string;
  message: string;
}

/** Refusals kept: enough for the questions in flight at once, bounded whatever the server sends. */
const KEPT = 32;

/**
 * The permission violations a connection's server sent (publish or subscription), in order. nats.js reports them
 * asynchronously and a publish never fails by itself, so a question marks where it started and looks for a
 * refusal of its subjects once its answers are in.
 */
export class BusRefusals {
  #seq = 0;
  readonly #recent: Refusal[] = [];

  /** Keeps `err` when it is (or wraps) a permission violation; true if it was one. */
  note(err: unknown): boolean {
    const pv = findCause(err, PermissionViolationError);
    if (!pv) return false;
    this.#recent.push({ seq: ++this.#seq, subject: pv.subject, message: pv.message });
    if (this.#recent.length > KEPT) this.#recent.shift();
    return true;
  }

  /** Where a question starts; since() looks only at refusals after it. */
  mark(): number {
    return this.#seq;
  }

  /** The message of the first refusal after `mark` whose subject `match` accepts. */
  since(mark: number, match: (subject: string) => boolean): string | undefined {
    return this.#recent.find((r) => r.seq > mark && match(r.subject))?.message;
  }
}

export interface DashboardBus {
  bus: Bus;
  /** The refusals `bus`'s server sent (of the shared bus: what its reporter noted, if it notes any). */
  refusals: BusRefusals | undefined;
  /** Drains the dashboard's own connection; nothing for the gate's. */
  close(): Promise<void>;
}

/**
 * The bus the dashboard asks on: its own connection when admin.nats sets an identity, else `shared` (the gate's).
 * A wrong identity fails here (UnavailableError), so the process stops with one line instead of a dead page.
 */
export interface OpenDashboardBusOptions {
  config: Pick<DuetConfig, 'bus' | 'admin'>;
  /** The gate's bus, asked on when admin.nats sets no identity. */
  shared: Bus;
  /** The refusals the gate's bus reporter notes, so a refused question answers 502 on the shared bus too. */
  sharedRefusals?: BusRefusals;
  connect: ConnectDashboardBus;
  /** Where the own connection's other errors go (server errors that are not refusals, drain failures). */
  onError?: ErrorReporter;
}

export async function openDashboardBus(o: OpenDashboardBusOptions): Promise<DashboardBus> {
  if (!hasOwnIdentity(o.config.admin.nats)) return { bus: o.shared, refusals: o.sharedRefusals, close: async () => {} };
  const refusals = new BusRefusals();
  const bus = await o.connect({
    ...dashboardNatsOptions(o.config),
    // A refusal is the API's answer (502), not an unexpected failure: only the rest goes to the reporter.
    onError: (err, context) => {
      if (!refusals.note(err)) o.onError?.(err, context);
    },
  });
  return { bus, refusals, close: () => bus.drain() };
}
