/**
 * Scenarios 1-4 (and 7, open loop): echo requests through each system, closed loop with one request in flight per
 * client (or open loop at a fixed total rate), measured in a window after a warm-up. Each (system, load) cell is run
 * `runs` times, systems alternating within each round; figures are the medians.
 */
import { LoadGroup } from '../lib/load.js';
import type { LoadMode } from '../lib/load-protocol.js';
import { cpuDelta, cpuSnapshot } from '../lib/proc-stats.js';
import { medianOf, rotate } from '../lib/stats.js';
import type { System } from '../lib/systems.js';

export interface EchoLoad {
  clients: number;
  bodyBytes: number;
  mode: LoadMode;
  /** open loop: total requests per second over all clients. */
  totalRate?: number;
}

export interface EchoFigures extends Record<string, number> {
  rps: number;
  p50ms: number;
  p99ms: number;
  p999ms: number;
  /** Server CPU per round trip, all processes. */
  cpuUsPerRt: number;
  lost: number;
  errors: number;
}

export interface EchoCell {
  system: string;
  load: EchoLoad;
  runs: EchoFigures[];
  median: EchoFigures;
}

export interface EchoOptions {
  warmupMs: number;
  measureMs: number;
  runs: number;
  log(line: string): void;
}

async function once(sys: System, load: EchoLoad, o: EchoOptions): Promise<EchoFigures> {
  const group = await LoadGroup.open(
    {
      url: sys.url,
      protocol: sys.protocol,
      mode: load.mode,
      bodyBytes: load.bodyBytes,
      route: 1,
      ratePerConn: load.totalRate ? load.totalRate / load.clients : undefined,
    },
    load.clients,
    2,
  );
  try {
    if (group.failed > 0) throw new Error(`${sys.name}: ${group.failed} of ${load.clients} clients failed to connect`);
    let before: Record<string, number> = {};
    let after: Record<string, number> = {};
    const r = await group.run(o.warmupMs, o.measureMs, {
      onOpen: () => {
        before = cpuSnapshot(sys.pids);
      },
      onClose: () => {
        after = cpuSnapshot(sys.pids);
      },
    });
    const cpu = cpuDelta(before, after);
    const rts = Math.max(1, r.completed);
    const f: EchoFigures = {
      rps: r.rate,
      p50ms: r.hist.quantile(0.5) / 1000,
      p99ms: r.hist.quantile(0.99) / 1000,
      p999ms: r.hist.quantile(0.999) / 1000,
      cpuUsPerRt: 0,
      lost: r.lost,
      errors: r.errors + r.closed,
    };
    for (const [name, us] of Object.entries(cpu)) {
      f[`cpu_${name}`] = us / rts;
      f.cpuUsPerRt += us / rts;
    }
    return f;
  } finally {
    await group.close();
  }
}

export async function runEcho(systems: System[], loads: EchoLoad[], o: EchoOptions): Promise<EchoCell[]> {
  const cells: EchoCell[] = [];
  for (const load of loads) {
    const byName = new Map<string, EchoFigures[]>();
    for (let run = 0; run < o.runs; run++) {
      for (const sys of rotate(systems, run)) {
        let f: EchoFigures;
        try {
          f = await once(sys, load, o);
        } catch (err) {
          o.log(`  ${sys.name} ${describe(load)} run ${run + 1}: FAILED ${(err as Error).message}`);
          continue;
        }
        o.log(
          `  ${sys.name.padEnd(12)} ${describe(load)} run ${run + 1}: ${Math.round(f.rps)} req/s, p99 ${f.p99ms.toFixed(2)} ms, ${f.cpuUsPerRt.toFixed(1)} µs/rt`,
        );
        const list = byName.get(sys.name) ?? [];
        list.push(f);
        byName.set(sys.name, list);
      }
    }
    for (const sys of systems) {
      const runs = byName.get(sys.name) ?? [];
      if (runs.length > 0) cells.push({ system: sys.name, load, runs, median: medianOf(runs) });
    }
  }
  return cells;
}

export function describe(load: EchoLoad): string {
  const size = load.bodyBytes >= 1024 ? `${load.bodyBytes / 1024}KB` : `${load.bodyBytes}B`;
  const rate = load.mode === 'open' ? ` @${load.totalRate}/s` : '';
  return `${load.clients}c/${size}${rate}`;
}
