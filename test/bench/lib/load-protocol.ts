import type { HistogramJson } from './histogram.js';

/** IPC between the runner (lib/load.ts) and load-worker.ts. */

export type Protocol = 'duet' | 'pomelo';
export type LoadMode = 'closed' | 'open' | 'idle' | 'broadcast' | 'login';

export interface WorkerSpec {
  url: string;
  protocol: Protocol;
  mode: LoadMode;
  conns: number;
  bodyBytes: number;
  /** duet route of requests (1 = echo). */
  route: number;
  pomeloRoute?: string;
  /** open loop: requests per second per socket. */
  ratePerConn?: number;
  /** idle: client heartbeat period. */
  heartbeatMs?: number;
  /** broadcast: the route pushes arrive on. */
  pushRoute?: number;
  connectConcurrency?: number;
  /** open loop: also return every sample (scheduled epoch, latency), so windows can be cut afterwards. */
  keepSamples?: boolean;
  /** login: socket i logs in as uid loginUidBase + i (+ the login command's offset). */
  loginUidBase?: number;
  /**
   * closed/open: socket i logs in as uid bindUid + i before it counts as ready, like a player already in the game
   * (the storm's steady sessions).
   */
  bindUid?: number;
}

export type WorkerCommand =
  | { type: 'setup'; spec: WorkerSpec }
  | { type: 'run'; measureFromEpoch: number; measureToEpoch: number }
  | { type: 'idle' }
  | { type: 'trigger'; route: number; body: Uint8Array }
  | { type: 'count' }
  /** login mode: every socket sends one login (diagnostic route 2) at once; answered by 'logins'. */
  | { type: 'login'; uidOffset: number; timeoutMs: number }
  | { type: 'close' };

export interface WorkerResult {
  type: 'result';
  hist: HistogramJson;
  completed: number;
  sent: number;
  errors: number;
  /** Requests still unanswered 3 s after the window. */
  lost: number;
  /** Sockets the server closed during the run. */
  closed: number;
  /** keepSamples: per answered request, its scheduled epoch ms and latency ms. */
  samples?: { atEpoch: number[]; ms: number[] };
}

export interface LoginResult {
  type: 'logins';
  hist: HistogramJson;
  /** Logins answered with their uid. */
  ok: number;
  /** Answered otherwise (an error text), or not answered before the timeout. */
  failed: number;
  firstSendEpoch: number;
  lastAnswerEpoch: number;
}

export type WorkerReply =
  | { type: 'ready'; opened: number; failed: number }
  | WorkerResult
  | LoginResult
  | { type: 'triggered'; atEpoch: number }
  | { type: 'count'; pushes: number; lastPushEpoch: number; open: number };
