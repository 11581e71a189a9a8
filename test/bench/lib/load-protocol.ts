import type { HistogramJson } from './histogram.js';

/** IPC between the runner (lib/load.ts) and load-worker.ts. */

export type Protocol = 'duet' | 'pomelo';
export type LoadMode = 'closed' | 'open' | 'idle' | 'broadcast';

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
}

export type WorkerCommand =
  | { type: 'setup'; spec: WorkerSpec }
  | { type: 'run'; measureFromEpoch: number; measureToEpoch: number }
  | { type: 'idle' }
  | { type: 'trigger'; route: number; body: Uint8Array }
  | { type: 'count' }
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
}

export type WorkerReply =
  | { type: 'ready'; opened: number; failed: number }
  | WorkerResult
  | { type: 'triggered'; atEpoch: number }
  | { type: 'count'; pushes: number; lastPushEpoch: number; open: number };
