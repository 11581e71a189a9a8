/**
 * The one configuration schema: due's keys plus duet's own. Every default
 * is a named constant beside its key (due cluster/gate/options.go does the same). `DuetConfig` is derived from
 * SCHEMA, so the typed result cannot drift from what is parsed and validated.
 */
import { DEFAULT_PACKET_OPTIONS } from '../packet/options.js';
import { bool, duration, int, intOf, map, num, oneOf, type Resolved, size, str, strings } from './fields.js';

export const MODES = ['debug', 'test', 'release'] as const;
export type Mode = (typeof MODES)[number];
export const ROLES = ['gate', 'node', 'dev'] as const;
export type Role = (typeof ROLES)[number];

export const DEFAULT_MODE: Mode = 'debug';
export const DEFAULT_TIMEZONE = 'Local';
/** due: 0 = wait for sessions to end however long it takes. */
export const DEFAULT_SHUTDOWN_MAX_WAIT_TIME_MS = 0;

export const DEFAULT_GATE_NAME = 'gate';
export const DEFAULT_NODE_NAME = 'node';
export const DEFAULT_DISPATCH = 'random';
export const DEFAULT_CALL_TIMEOUT_MS = 3000;
/** A node beats this often on the bus; gates take 3 missed beats (1.5 s) as dead (issue 20). */
export const DEFAULT_LIVENESS_INTERVAL_MS = 500;
export const DEFAULT_NODE_LOST: 'close' | 'ignore' = 'close';
export const DEFAULT_NODE_CODEC = 'proto';
export const DEFAULT_NODE_WEIGHT = 1;

export const DEFAULT_WS_ADDR = ':3553';
export const DEFAULT_WS_PATH = '/';
export const DEFAULT_WS_ORIGINS: readonly string[] = ['*'];
export const DEFAULT_MAX_CONN_NUM = 5000;
export const DEFAULT_WRITE_QUEUE_SIZE = 1024;
/** due's TCP server queue is shorter than its WebSocket one. */
export const DEFAULT_TCP_WRITE_QUEUE_SIZE = 512;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
export const DEFAULT_HEARTBEAT_MECHANISM = 'resp';
export const DEFAULT_AUTHORIZE_TIMEOUT_MS = 0;
/** duet limits; 0 means off so that out-of-the-box behaviour is due's. */
export const DEFAULT_MAX_CONN_PER_IP = 0;
export const DEFAULT_MALFORMED_BUDGET = 0;
export const DEFAULT_RATE_LIMIT = 0;
export const DEFAULT_RATE_LIMIT_BURST = 0;
/**
 * A login storm's admission (issue 15): enough logins in flight to keep gate, bus, node and locator busy, few
 * enough that a playing session's frame waits behind a few milliseconds of them at each stage.
 */
export const DEFAULT_LOGINS_IN_FLIGHT = 64;
export const DEFAULT_WRITE_QUEUE_BYTES = 4 * 1024 * 1024;
/**
 * Connections that have not upgraded yet (issue 20): due's handshakeTimeout, and caps so that silent or slowloris
 * sockets cannot take every file descriptor. These are on by default: they cost a well-behaved client nothing.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_HANDSHAKE_NUM = 1000;
export const DEFAULT_MAX_HANDSHAKE_PER_IP = 100;
/** HMAC keys shorter than this can be brute-forced offline from one captured resume token. */
export const MIN_RESUME_SECRET_BYTES = 32;

export const DEFAULT_NATS_SERVERS: readonly string[] = ['nats://127.0.0.1:4222'];
export const DEFAULT_BUS_PREFIX = 'duet';
export const DEFAULT_REDIS_ADDRS: readonly string[] = ['127.0.0.1:6379'];
export const DEFAULT_REDIS_MAX_RETRIES = 3;
/** Since due v2.3.0; the key templates add a literal `locate`, so keys read `due:locate:locate:user:…`. */
export const DEFAULT_LOCATE_PREFIX = 'due:locate';
export const DEFAULT_CONSUL_ADDR = '127.0.0.1:8500';
export const DEFAULT_ETCD_ADDRS: readonly string[] = ['127.0.0.1:2379'];
export const DEFAULT_NATS_REGISTRY_BUCKET = 'duet-registry';
export const DEFAULT_NATS_REGISTRY_INTERVAL_MS = 3000;

export const DEFAULT_LOG_LEVEL = 'info';
export const DEFAULT_LOG_MAX_SIZE_BYTES = 100 * 1024 * 1024;
export const DEFAULT_LOG_MAX_AGE_MS = 7 * 86_400_000;

export const DEFAULT_ACTOR_MAILBOX_SIZE = 1024;
export const DEFAULT_ACTOR_IDLE_TIMEOUT_MS = 300_000;
/** A dead host's cluster actors are placed elsewhere this long after its last renewal (issue 17: within 5 s). */
export const DEFAULT_ACTOR_LEASE_TTL_MS = 2000;

export const DEFAULT_RESUME_BUFFER_BYTES = 256 * 1024;
export const DEFAULT_RESUME_BUFFER_MESSAGES = 1000;
/** Negative: clients never register negative routes (they cannot round-trip through due's Consul meta). */
export const DEFAULT_RESUME_ROUTE = -1;

const INT32_MAX = 2 ** 31 - 1;
const ROUTE_MIN = -(2 ** 31);

/** due's drpc keys: accepted so due config files load, unused because duet talks over the bus. */
const clusterCompat = {
  addr: str(':0', 'due compatibility: drpc listen address, accepted and unused (duet talks over the bus)'),
  expose: bool(false, 'due compatibility: advertise the public IP, accepted and unused'),
  connNum: int(5, 'due compatibility: drpc connections per peer, accepted and unused', { min: 0 }),
  dialTimeout: duration(3000, 'due compatibility: drpc dial timeout, accepted and unused'),
  dialRetryTimes: int(3, 'due compatibility: drpc dial retries, accepted and unused', { min: 0 }),
  writeTimeout: duration(0, 'due compatibility: drpc write timeout, accepted and unused'),
  writeQueueSize: int(2048, 'due compatibility: drpc write queue, accepted and unused', { min: 0 }),
  faultRecoveryTime: duration(5000, 'due compatibility: drpc fault recovery time, accepted and unused'),
};

const instanceId = str('', 'instance id; empty = a fresh UUID at start-up');
const callTimeout = duration(DEFAULT_CALL_TIMEOUT_MS, 'how long a request to another instance may take');
const metadata = map('free-form string labels published in the registry (Consul meta keys get a "_" prefix)');

const secondsDuration = (def: number, doc: string) => duration(def, doc, { bareUnit: 's' });

export const SCHEMA = {
  pid: str('', 'write the process id to this file at start-up; empty = no pid file'),
  mode: oneOf(MODES, DEFAULT_MODE, 'run mode; DUET_MODE and --mode override it'),
  timezone: str(DEFAULT_TIMEZONE, 'IANA time zone for logs and the banner, or "Local"'),
  shutdownMaxWaitTime: duration(
    DEFAULT_SHUTDOWN_MAX_WAIT_TIME_MS,
    'how long a graceful stop waits for sessions to end; 0 = no limit',
  ),
  cluster: {
    gate: {
      id: instanceId,
      name: str(DEFAULT_GATE_NAME, 'gate name (the registry alias)'),
      dispatch: oneOf(['random', 'rr', 'wrr'] as const, DEFAULT_DISPATCH, 'how a stateless route picks a node'),
      callTimeout,
      nodeLost: oneOf(
        ['close', 'ignore'] as const,
        DEFAULT_NODE_LOST,
        'sessions with requests to a node that stopped beating: close = closed with 4010, ignore = left waiting',
      ),
      loginsInFlight: int(
        DEFAULT_LOGINS_IN_FLIGHT,
        'requests of not-yet-bound sessions in flight at once; in a login storm the rest wait unread; 0 = no limit',
        { min: 0 },
      ),
      metadata,
      ...clusterCompat,
    },
    node: {
      id: instanceId,
      name: str(DEFAULT_NODE_NAME, 'node name: the stateful group users are bound to'),
      codec: oneOf(
        ['proto', 'json', 'msgpack'] as const,
        DEFAULT_NODE_CODEC,
        'body codec of request and push messages',
      ),
      weight: int(DEFAULT_NODE_WEIGHT, 'weight for the wrr dispatch strategy', { min: 0 }),
      callTimeout,
      livenessInterval: duration(
        DEFAULT_LIVENESS_INTERVAL_MS,
        'liveness beat period on the bus; gates take a node as dead after 3 missed beats; 0 = no beat',
      ),
      metadata,
      ...clusterCompat,
    },
  },
  network: {
    ws: {
      server: {
        addr: str(DEFAULT_WS_ADDR, 'WebSocket listen address, host:port (":3553" = every interface)'),
        path: str(DEFAULT_WS_PATH, 'HTTP path of the upgrade; "/" accepts any path'),
        origins: strings(DEFAULT_WS_ORIGINS, 'allowed Origin headers; "*" allows any, an empty list rejects all'),
        keyFile: str('', 'TLS private key file; with certFile set, the server speaks wss://'),
        certFile: str('', 'TLS certificate file; with keyFile set, the server speaks wss://'),
        maxConnNum: int(DEFAULT_MAX_CONN_NUM, 'most live connections; more upgrades get HTTP 503', { min: 1 }),
        writeQueueSize: int(DEFAULT_WRITE_QUEUE_SIZE, 'per-connection outbound queue length, in messages', {
          min: 1,
        }),
        heartbeatInterval: duration(
          DEFAULT_HEARTBEAT_INTERVAL_MS,
          'heartbeat check period; silent for 2 intervals = closed; 0 = off',
        ),
        heartbeatMechanism: oneOf(
          ['resp', 'tick'] as const,
          DEFAULT_HEARTBEAT_MECHANISM,
          'resp = answer client heartbeats, tick = send one every interval',
        ),
        authorizeTimeout: duration(
          DEFAULT_AUTHORIZE_TIMEOUT_MS,
          'close a connection not bound to a user by then; 0 = off',
        ),
        maxConnPerIp: int(DEFAULT_MAX_CONN_PER_IP, 'most live connections from one IP address; 0 = no limit', {
          min: 0,
        }),
        malformedBudget: int(
          DEFAULT_MALFORMED_BUDGET,
          'malformed frames a connection may send before it is closed; 0 = no limit',
          {
            min: 0,
          },
        ),
        rateLimit: num(DEFAULT_RATE_LIMIT, 'inbound messages per second allowed per connection; 0 = no limit', {
          min: 0,
        }),
        rateLimitBurst: int(DEFAULT_RATE_LIMIT_BURST, 'token bucket size for rateLimit; 0 = same as rateLimit', {
          min: 0,
        }),
        writeQueueBytes: size(
          DEFAULT_WRITE_QUEUE_BYTES,
          'per-connection outbound budget; over it = slow consumer, closed',
        ),
        handshakeTimeout: duration(
          DEFAULT_HANDSHAKE_TIMEOUT_MS,
          'a socket not upgraded to WebSocket by then is closed (slowloris, silent sockets); must be > 0',
        ),
        maxHandshakeNum: int(
          DEFAULT_MAX_HANDSHAKE_NUM,
          'most sockets not yet upgraded; more are refused (HTTP 503) before their request is read',
          { min: 1 },
        ),
        maxHandshakePerIp: int(
          DEFAULT_MAX_HANDSHAKE_PER_IP,
          'most sockets not yet upgraded from one IP address; more get HTTP 429; 0 = no limit',
          { min: 0 },
        ),
      },
    },
    tcp: {
      server: {
        addr: str('', 'TCP listen address, host:port; empty = no TCP listener (due serves TCP on ":3553")'),
        keyFile: str('', 'TLS private key file; with certFile set, the TCP listener speaks TLS'),
        certFile: str('', 'TLS certificate file; with keyFile set, the TCP listener speaks TLS'),
        maxConnNum: int(DEFAULT_MAX_CONN_NUM, 'most live TCP connections; more are closed on accept', { min: 1 }),
        writeQueueSize: int(DEFAULT_TCP_WRITE_QUEUE_SIZE, 'per-connection outbound queue length, in messages', {
          min: 1,
        }),
        heartbeatInterval: duration(
          DEFAULT_HEARTBEAT_INTERVAL_MS,
          'gate-wide: at 10s it follows network.ws.server.heartbeatInterval, else must equal it',
        ),
        heartbeatMechanism: oneOf(
          ['resp', 'tick'] as const,
          DEFAULT_HEARTBEAT_MECHANISM,
          'gate-wide: at resp it follows network.ws.server.heartbeatMechanism, else must equal it',
        ),
        authorizeTimeout: duration(
          DEFAULT_AUTHORIZE_TIMEOUT_MS,
          'gate-wide: at 0s it follows network.ws.server.authorizeTimeout, else must equal it',
        ),
      },
    },
  },
  packet: {
    byteOrder: oneOf(['big', 'little'] as const, DEFAULT_PACKET_OPTIONS.byteOrder, 'byte order of size, route, seq'),
    routeBytes: intOf([1, 2, 4] as const, DEFAULT_PACKET_OPTIONS.routeBytes, 'width of the route field in bytes'),
    seqBytes: intOf([0, 1, 2, 4] as const, DEFAULT_PACKET_OPTIONS.seqBytes, 'width of the seq field; 0 = no seq'),
    bufferBytes: size(DEFAULT_PACKET_OPTIONS.bufferBytes, 'largest message body accepted, in bytes'),
    heartbeatTime: bool(DEFAULT_PACKET_OPTIONS.heartbeatTime, 'append the server time (ns) to server heartbeats'),
  },
  bus: {
    adapter: oneOf(['memory', 'nats'] as const, 'memory', 'message bus between gates and nodes'),
    opsSecret: str(
      '',
      'HMAC key shared by all gates and nodes (at least 32 bytes): bind, unbind and kick operations are signed, unsigned or forged ones dropped and counted; empty = off',
      { secret: true },
    ),
    nats: {
      servers: strings(DEFAULT_NATS_SERVERS, 'NATS server URLs'),
      prefix: str(DEFAULT_BUS_PREFIX, 'first token of every subject, so clusters can share a NATS'),
      name: str('', 'connection name shown by the NATS monitoring endpoints'),
      user: str('', 'NATS user name'),
      pass: str('', 'NATS password', { secret: true }),
      token: str('', 'NATS authentication token', { secret: true }),
      credsFile: str('', 'NATS credentials file (user JWT and nkey seed, as nsc writes it); empty = none'),
      nkeySeedFile: str('', "file holding this user's NATS nkey seed (SU...); empty = none"),
      caFile: str('', "CA certificate that signed the NATS server's; setting it turns TLS on"),
      certFile: str('', 'TLS client certificate for NATS (with keyFile; turns TLS on)'),
      keyFile: str('', 'TLS client key for NATS (with certFile)'),
    },
  },
  locate: {
    adapter: oneOf(['memory', 'redis'] as const, 'memory', 'where uid → gate and uid → node bindings live'),
    redis: {
      addrs: strings(DEFAULT_REDIS_ADDRS, 'Redis addresses; more than one = Redis Cluster'),
      db: int(0, 'Redis database number', { min: 0, max: 15 }),
      username: str('', 'Redis ACL user name'),
      password: str('', 'Redis password', { secret: true }),
      certFile: str('', 'TLS client certificate (with keyFile and caFile: mutual TLS)'),
      keyFile: str('', 'TLS client key (with certFile)'),
      caFile: str('', 'CA certificate of the Redis server; setting it turns TLS on'),
      maxRetries: int(DEFAULT_REDIS_MAX_RETRIES, 'retries of a failed Redis command', { min: 0 }),
      prefix: str(DEFAULT_LOCATE_PREFIX, 'key prefix; due\'s layout adds ":locate:user:{uid}:gate"'),
    },
  },
  registry: {
    adapter: oneOf(
      ['memory', 'consul', 'nats', 'etcd'] as const,
      'memory',
      'where instances, routes and states are published',
    ),
    consul: {
      addr: str(DEFAULT_CONSUL_ADDR, 'Consul agent address, host:port'),
      token: str('', 'Consul ACL token, sent as X-Consul-Token with every call', { secret: true }),
      caFile: str('', 'CA certificate of the Consul agent; setting it turns HTTPS on'),
      certFile: str('', 'TLS client certificate for Consul (with keyFile; turns HTTPS on)'),
      keyFile: str('', 'TLS client key for Consul (with certFile)'),
      heartbeatCheckInterval: secondsDuration(10_000, 'TTL of the heartbeat check (a bare number is seconds)'),
      deregisterCriticalServiceAfter: secondsDuration(30_000, 'Consul removes an instance failing this long'),
    },
    etcd: {
      addrs: strings(DEFAULT_ETCD_ADDRS, 'etcd member addresses, host:port'),
      dialTimeout: duration(5000, 'how long connecting to etcd may take'),
      namespace: str('services', 'first key segment: instances live at /{namespace}/{kind}/{id} (due layout)'),
      timeout: duration(3000, 'deadline of one etcd call'),
      username: str('', 'etcd user (auth off when empty)'),
      password: str('', 'etcd password', { secret: true }),
      retryTimes: int(3, 'quick re-register attempts after a lost lease, before one per retryInterval', { min: 1 }),
      retryInterval: duration(10_000, 'lease TTL is this plus 1 s; also the slow re-register interval'),
    },
    nats: {
      servers: strings([], 'NATS server URLs for the KV bucket; empty = the bus.nats servers'),
      bucket: str(DEFAULT_NATS_REGISTRY_BUCKET, 'JetStream KV bucket holding the instances'),
      interval: duration(DEFAULT_NATS_REGISTRY_INTERVAL_MS, 'how often an instance refreshes its entry'),
      replicas: int(1, 'JetStream replicas of the bucket: 1, 3 or 5 (3 on a 3-server cluster survives a server loss)', {
        min: 1,
        max: 5,
      }),
    },
  },
  log: {
    level: oneOf(['debug', 'info', 'warn', 'error'] as const, DEFAULT_LOG_LEVEL, 'lowest level written'),
    format: oneOf(['text', 'json'] as const, 'text', 'text = one readable line, json = one JSON object per line'),
    stdout: bool(true, 'write logs to standard output'),
    file: str('', 'log file path; empty = no file'),
    maxSize: size(DEFAULT_LOG_MAX_SIZE_BYTES, 'start a new file past this size; 0 = no size limit'),
    maxAge: duration(DEFAULT_LOG_MAX_AGE_MS, 'delete rotated files older than this; 0 = keep all'),
    rotateDaily: bool(true, 'start a new file each day'),
    classifiedStorage: bool(false, 'also write each level to its own file (app.error.log …)'),
    caller: bool(false, 'add the caller file:line to each line (costs a stack capture per line)'),
    callerFullPath: bool(false, 'print the caller with its full path rather than the file name'),
  },
  metrics: {
    addr: str('', 'Prometheus /metrics, /healthz and /readyz address, e.g. "127.0.0.1:9100"; empty = off'),
  },
  admin: {
    addr: str('', 'admin dashboard address (duet gate and duet dev), host:port; ":port" = loopback only; empty = off'),
    token: str('', 'bearer token every kick and drain needs (Authorization: Bearer ...); empty = those are refused', {
      secret: true,
    }),
    nats: {
      user: str(
        '',
        "the dashboard's own NATS user (needs bus.adapter nats); an admin.nats key set = its own connection",
      ),
      pass: str('', "the dashboard's NATS password", { secret: true }),
      token: str('', "the dashboard's NATS authentication token", { secret: true }),
      credsFile: str('', "the dashboard's NATS credentials file (user JWT and nkey seed); empty = none"),
      nkeySeedFile: str('', "file holding the dashboard's NATS nkey seed (SU...); empty = none"),
    },
    tls: {
      certFile: str('', 'TLS certificate of the dashboard; with keyFile set, it serves https:// only'),
      keyFile: str('', 'TLS private key of the dashboard; with certFile set, it serves https:// only'),
    },
  },
  trace: {
    enabled: bool(false, 'publish every session transition always; off, `duet trace` still works by lease'),
    sample: num(1, 'fraction of sessions traced, 0 to 1', { min: 0, max: 1 }),
    uid: int(0, 'trace only this user; 0 = any'),
    cid: int(0, 'trace only this connection; 0 = any', { min: 0 }),
  },
  capture: {
    file: str('', 'write every client packet in and out to this capture file (proto/capture.proto); empty = off'),
    maxSize: size(64 * 1024 * 1024, 'largest size of one capture file before it rotates'),
    maxFiles: int(5, 'capture files kept, the current one included', { min: 1, max: 1000 }),
  },
  actor: {
    mailboxSize: int(DEFAULT_ACTOR_MAILBOX_SIZE, 'messages waiting in one actor mailbox before new ones are refused', {
      min: 1,
    }),
    idleTimeout: duration(DEFAULT_ACTOR_IDLE_TIMEOUT_MS, 'a cluster actor idle this long is deactivated; 0 = never'),
    leaseTtl: duration(
      DEFAULT_ACTOR_LEASE_TTL_MS,
      "how long a node's actor placements hold unrenewed: a dead host's actors move after it (at least 100ms)",
    ),
  },
  session: {
    resume: {
      window: duration(0, 'how long a dropped session waits to be resumed; 0 = off (due behaviour)'),
      bufferBytes: size(DEFAULT_RESUME_BUFFER_BYTES, 'most push bytes kept for a suspended session'),
      bufferMessages: int(DEFAULT_RESUME_BUFFER_MESSAGES, 'most pushes kept for a suspended session', { min: 1 }),
      route: int(DEFAULT_RESUME_ROUTE, 'route reserved for resume tokens and resume requests', {
        min: ROUTE_MIN,
        max: INT32_MAX,
      }),
      secret: str(
        '',
        `HMAC key that signs resume tokens, >= ${MIN_RESUME_SECRET_BYTES} bytes; required when window > 0`,
        {
          secret: true,
        },
      ),
    },
  },
} as const;

/** The typed, validated configuration every part reads. Durations are `…Ms`, sizes `…Bytes`. */
export type DuetConfig = Resolved<typeof SCHEMA>;

/** Old or alternative key names, mapped to the key they set. */
export const ALIASES: Readonly<Record<string, string>> = {
  'network.ws.server.heartbeatWithServerTime': 'packet.heartbeatTime',
  'cluster.gate.timeout': 'cluster.gate.callTimeout',
  'cluster.node.timeout': 'cluster.node.callTimeout',
};
