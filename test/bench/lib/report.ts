/** The printed table and the ratios against the issue's targets. */
import type { BroadcastResult } from '../scenarios/broadcast.js';
import { describe, type EchoCell } from '../scenarios/echo.js';
import type { IdleResult } from '../scenarios/idle.js';
import type { ReconnectResult } from '../scenarios/reconnect.js';
import type { RpcResult } from '../scenarios/rpc.js';
import type { StormResult } from '../scenarios/storm.js';
import type { EnvInfo } from './env-info.js';

export interface Ratio {
  name: string;
  value: number;
  target: string;
  met: boolean | undefined;
}

export interface BenchReport {
  env: EnvInfo;
  mode: 'quick' | 'full';
  settings: Record<string, unknown>;
  echo: EchoCell[];
  openLoop: EchoCell[];
  broadcast: BroadcastResult[];
  storm: StormResult[];
  reconnect: ReconnectResult[];
  idle: IdleResult[];
  /** Service calls between two nodes beside plain NATS request/reply (issue 17). */
  rpc?: RpcResult[];
  ratios: Ratio[];
  skipped: Record<string, string>;
  loadavgEnd: number[];
  elapsedSeconds: number;
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i] as number)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

function cpuBreakdown(c: EchoCell): string {
  return Object.entries(c.median)
    .filter(([k]) => k.startsWith('cpu_'))
    .map(([k, v]) => `${k.slice(4)} ${f1(v)}`)
    .join(', ');
}

function echoTable(cells: EchoCell[]): string {
  return table(
    ['load', 'system', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'server CPU µs/rt', 'per process µs/rt', 'runs'],
    cells.map((c) => [
      describe(c.load),
      c.system,
      f0(c.median.rps),
      f2(c.median.p50ms),
      f2(c.median.p99ms),
      f2(c.median.p999ms),
      f1(c.median.cpuUsPerRt),
      cpuBreakdown(c),
      String(c.runs.length),
    ]),
  );
}

function cell(cells: EchoCell[], system: string, clients: number, body: number): EchoCell | undefined {
  return cells.find((c) => c.system === system && c.load.clients === clients && c.load.bodyBytes === body);
}

export function ratios(r: Omit<BenchReport, 'ratios'>): Ratio[] {
  const out: Ratio[] = [];
  const loads = [...new Map(r.echo.map((c) => [describe(c.load), c.load])).values()];
  for (const l of loads) {
    const d = cell(r.echo, 'duet-nats', l.clients, l.bodyBytes);
    const p = cell(r.echo, 'pinus', l.clients, l.bodyBytes);
    const dev = cell(r.echo, 'duet-dev', l.clients, l.bodyBytes);
    const devTcp = cell(r.echo, 'duet-dev-tcp', l.clients, l.bodyBytes);
    const ws = cell(r.echo, 'ws', l.clients, l.bodyBytes);
    const pt = cell(r.echo, 'passthrough', l.clients, l.bodyBytes);
    const tag = describe(l);
    if (d && p) {
      const x = d.median.rps / p.median.rps;
      out.push({ name: `${tag} duet-nats/pinus req/s`, value: x, target: '≥ 1.5', met: x >= 1.5 });
      const y = d.median.p99ms / p.median.p99ms;
      out.push({ name: `${tag} duet-nats/pinus p99`, value: y, target: '≤ 0.5', met: y <= 0.5 });
      const z = d.median.cpuUsPerRt / p.median.cpuUsPerRt;
      out.push({ name: `${tag} duet-nats/pinus server CPU per rt`, value: z, target: '< 1', met: z < 1 });
    }
    if (dev && ws) {
      const x = dev.median.rps / ws.median.rps;
      out.push({ name: `${tag} duet-dev/bare ws req/s`, value: x, target: '≥ 0.9', met: x >= 0.9 });
    }
    if (dev && devTcp) {
      const x = devTcp.median.rps / dev.median.rps;
      out.push({ name: `${tag} duet-dev TCP/WebSocket req/s`, value: x, target: '(info)', met: undefined });
    }
    if (d && pt) {
      const x = d.median.rps / pt.median.rps;
      out.push({ name: `${tag} duet-nats/per-message pass-through req/s`, value: x, target: '(info)', met: undefined });
    }
  }
  const idleDuet = r.idle.find((i) => i.system === 'duet-dev');
  const idleWs = r.idle.find((i) => i.system === 'ws');
  if (idleDuet && idleWs) {
    const x = idleDuet.medianBytesPerSession / idleWs.medianBytesPerSession;
    out.push({
      name: `idle RSS per session duet/bare ws (${idleDuet.sessions})`,
      value: x,
      target: '≤ 1.2',
      met: x <= 1.2,
    });
  }
  const svc = r.rpc?.find((x) => x.system === 'duet service call');
  const plain = r.rpc?.find((x) => x.system === 'plain NATS request');
  if (svc && plain) {
    out.push({
      name: `rpc duet service call/plain NATS request calls/s (${svc.concurrency} in flight)`,
      value: svc.median.callsPerSec / plain.median.callsPerSec,
      target: '(info)',
      met: undefined,
    });
    out.push({
      name: 'rpc duet service call/plain NATS request p99',
      value: svc.median.p99ms / plain.median.p99ms,
      target: '(info)',
      met: undefined,
    });
  }
  for (const b of r.broadcast) {
    if (b.system === 'ws' || b.system === 'ws-prepared') continue;
    const base = r.broadcast.find((x) => x.system === 'ws' && x.pushesPerRun === b.pushesPerRun);
    if (base) {
      // issue 15: a push framed once and written corked to every socket, against one ws.send per push per socket
      const x = b.medianMsgsPerSec / base.medianMsgsPerSec;
      const burst = b.pushesPerRun > 1;
      out.push({
        name: `broadcast ${b.system}/bare ws (one ws.send per push), ${b.pushesPerRun} push(es), msgs/s`,
        value: x,
        target: burst ? '≥ 3' : '(info)',
        met: burst ? x >= 3 : undefined,
      });
    }
    const ceiling = r.broadcast.find((x) => x.system === 'ws-prepared' && x.pushesPerRun === b.pushesPerRun);
    if (ceiling) {
      out.push({
        name: `broadcast ${b.system}/ws prepared frame, ${b.pushesPerRun} push(es), msgs/s`,
        value: b.medianMsgsPerSec / ceiling.medianMsgsPerSec,
        target: '(info)',
        met: undefined,
      });
    }
    out.push({
      name: `broadcast ${b.system}, ${b.pushesPerRun} push(es) to ${b.sessions} sessions, msgs/s`,
      value: b.medianMsgsPerSec,
      target: '≥ 200,000',
      met: b.medianMsgsPerSec >= 200_000,
    });
  }
  for (const st of r.storm) {
    const x = st.loginsPerSec / st.echo100Rps;
    out.push({
      name: `storm: logins/s / the gate's 100-client echo req/s`,
      value: x,
      target: '≥ 0.15',
      met: x >= 0.15,
    });
    const y = st.during.p99ms / st.before.p99ms;
    out.push({ name: 'storm: steady echo p99 during / before', value: y, target: '≤ 3', met: y <= 3 });
  }
  return out;
}

export function formatReport(r: BenchReport): string {
  const e = r.env;
  const parts: string[] = [];
  parts.push(
    `duet bench (${r.mode}) — ${e.date}, duet ${e.commit}, ${e.nproc} × ${e.cpuModel}, ${e.memGiB} GiB, node ${e.node}, ${e.natsServer}, ws ${e.ws}, pinus ${e.pinus}`,
  );
  parts.push(
    `load average at start ${e.loadavgStart.map(f2).join(' ')}, at end ${r.loadavgEnd.map(f2).join(' ')}; ${r.elapsedSeconds.toFixed(0)} s`,
  );
  if (r.echo.length > 0)
    parts.push('\nEcho, closed loop (1 request in flight per client), medians:\n' + echoTable(r.echo));
  if (r.openLoop.length > 0)
    parts.push('\nOpen loop (latency from the scheduled send time), medians:\n' + echoTable(r.openLoop));
  if (r.broadcast.length > 0) {
    parts.push(
      '\nBroadcast fan-out, medians:\n' +
        table(
          ['system', 'sessions', 'pushes/run', 'delivered msgs/s', 'server CPU µs/msg', 'runs'],
          r.broadcast.map((b) => [
            b.system,
            String(b.sessions),
            String(b.pushesPerRun),
            f0(b.medianMsgsPerSec),
            f2(b.medianCpuUsPerMsg),
            String(b.runs.length),
          ]),
        ),
    );
  }
  if (r.storm.length > 0) {
    parts.push(
      '\nLogin storm over NATS + Redis (steady sessions echo every 10 ms, open loop):\n' +
        table(
          [
            'logins',
            'logins/s',
            'storm ms',
            'login p50/p99 ms',
            'failed',
            'echo100 req/s',
            'steady p50/p99 before',
            'steady p50/p99 during',
          ],
          r.storm.map((st) => [
            String(st.logins),
            f0(st.loginsPerSec),
            f0(st.stormMs),
            `${f2(st.loginP50ms)} / ${f2(st.loginP99ms)}`,
            String(st.loginsFailed),
            f0(st.echo100Rps),
            `${f2(st.before.p50ms)} / ${f2(st.before.p99ms)}`,
            `${f2(st.during.p50ms)} / ${f2(st.during.p99ms)}`,
          ]),
        ),
    );
  }
  if (r.reconnect.length > 0) {
    parts.push(
      '\nReconnect storm (gate A restarted; its duet/client sessions reconnect and log in again; gate B meanwhile):\n' +
        table(
          [
            'sessions',
            'stop ms',
            'listening after ms',
            'all served after ms',
            'served',
            'reconnect attempts',
            'gate B echo p50/p99 before',
            'during',
            'gate B / node CPU ms',
          ],
          r.reconnect.map((x) => [
            String(x.sessions),
            f0(x.stopMs),
            f0(x.restartMs),
            f0(x.allServedMs),
            String(x.served),
            String(x.reconnectAttempts),
            `${f2(x.otherGate.p50msBefore)} / ${f2(x.otherGate.p99msBefore)}`,
            `${f2(x.otherGate.p50msDuring)} / ${f2(x.otherGate.p99msDuring)}`,
            `${f0(x.cpuMs.gateB ?? Number.NaN)} / ${f0(x.cpuMs.node ?? Number.NaN)}`,
          ]),
        ),
    );
  }
  if (r.idle.length > 0) {
    parts.push(
      '\nIdle sessions with heartbeats, medians:\n' +
        table(
          ['system', 'sessions', 'RSS per session KiB', 'runs'],
          r.idle.map((i) => [i.system, String(i.sessions), f2(i.medianBytesPerSession / 1024), String(i.runs.length)]),
        ),
    );
  }
  if (r.rpc && r.rpc.length > 0) {
    parts.push(
      '\nService calls between two nodes (closed loop), medians:\n' +
        table(
          ['system', 'in flight', 'body B', 'calls/s', 'p50 ms', 'p99 ms', 'runs'],
          r.rpc.map((x) => [
            x.system,
            String(x.concurrency),
            String(x.bodyBytes),
            f0(x.median.callsPerSec),
            f2(x.median.p50ms),
            f2(x.median.p99ms),
            String(x.runs.length),
          ]),
        ),
    );
  }
  if (r.ratios.length > 0) {
    parts.push(
      '\nRatios (same run) against the issue-9 targets:\n' +
        table(
          ['ratio', 'value', 'target', 'met'],
          r.ratios.map((x) => [
            x.name,
            x.value >= 1000 ? f0(x.value) : f2(x.value),
            x.target,
            x.met === undefined ? '' : x.met ? 'yes' : 'NO',
          ]),
        ),
    );
  }
  const faults = [...r.echo, ...r.openLoop].flatMap((c) =>
    c.runs
      .filter((x) => x.lost > 0 || x.errors > 0)
      .map((x) => `${c.system} ${describe(c.load)}: ${x.lost} unanswered, ${x.errors} socket errors/closes`),
  );
  const short = r.broadcast.filter((b) => b.runs.some((x) => x.delivered < b.sessions * b.pushesPerRun));
  const idleShort = r.idle.filter((i) => i.runs.some((x) => x.open < i.sessions));
  for (const x of r.reconnect) {
    if (x.served < x.sessions) faults.push(`reconnect: ${x.sessions - x.served} sessions not served again`);
    if (x.otherGate.lost > 0) faults.push(`reconnect: ${x.otherGate.lost} echoes on gate B unanswered`);
  }
  for (const st of r.storm) {
    if (st.loginsFailed > 0) faults.push(`storm: ${st.loginsFailed} logins failed or unanswered`);
    if (st.steadyLost > 0) faults.push(`storm: ${st.steadyLost} steady echoes unanswered`);
  }
  parts.push(
    faults.length + short.length + idleShort.length === 0
      ? `\nNo faults: ${[
          r.echo.length + r.openLoop.length > 0 ? 'every request answered' : '',
          r.broadcast.length > 0 ? 'every push delivered' : '',
          r.storm.length > 0 ? 'every login answered' : '',
          r.reconnect.length > 0 ? 'every restarted session served again' : '',
          r.idle.length > 0 ? 'every idle session still open' : '',
        ]
          .filter(Boolean)
          .join(', ')}.`
      : `\nFAULTS: ${[...faults, ...short.map((b) => `${b.system} broadcast short`), ...idleShort.map((i) => `${i.system} idle sessions closed`)].join('; ')}`,
  );
  for (const [k, why] of Object.entries(r.skipped)) parts.push(`skipped ${k}: ${why}`);
  return parts.join('\n');
}
