/**
 * Scenario 6: idle sessions. A fresh server process per run; RSS before and after `sessions` clients connect and
 * sit idle with heartbeats (every `heartbeatMs`, the gate answering them), spread over worker processes.
 * Per-session RSS = (after - before) / sessions. Runs alternate between the systems; medians are reported.
 */
import { LoadGroup, MAX_CONNS_PER_WORKER } from '../lib/load.js';
import { rssBytes } from '../lib/proc-stats.js';
import { median, sleep } from '../lib/stats.js';
import type { System, SystemName } from '../lib/systems.js';

export interface IdleRun {
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerSession: number;
  open: number;
}

export interface IdleResult {
  system: string;
  sessions: number;
  runs: IdleRun[];
  medianBytesPerSession: number;
}

export async function runIdle(
  start: (name: SystemName) => Promise<System>,
  names: SystemName[],
  o: { sessions: number; heartbeatMs: number; settleMs: number; runs: number; log(l: string): void },
): Promise<IdleResult[]> {
  const byName = new Map<string, IdleRun[]>();
  for (let run = 0; run < o.runs; run++) {
    for (const name of run % 2 ? [...names].reverse() : names) {
      const sys = await start(name);
      try {
        const pid = Object.values(sys.pids)[0] as number;
        await sleep(500);
        const before = rssBytes(pid) ?? Number.NaN;
        const workers = Math.max(2, Math.ceil(o.sessions / MAX_CONNS_PER_WORKER));
        const group = await LoadGroup.open(
          {
            url: sys.url,
            protocol: 'duet',
            mode: 'idle',
            bodyBytes: 0,
            route: 1,
            heartbeatMs: o.heartbeatMs,
            connectConcurrency: 50,
          },
          o.sessions,
          workers,
        );
        try {
          group.idle();
          await sleep(o.settleMs);
          const samples: number[] = [];
          for (let i = 0; i < 5; i++) {
            samples.push(rssBytes(pid) ?? Number.NaN);
            await sleep(200);
          }
          const after = median(samples);
          const open = (await group.count()).open;
          const r: IdleRun = {
            rssBeforeBytes: before,
            rssAfterBytes: after,
            bytesPerSession: (after - before) / o.sessions,
            open,
          };
          o.log(
            `  ${name.padEnd(8)} idle run ${run + 1}: ${open}/${o.sessions} open, RSS ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB = ${(r.bytesPerSession / 1024).toFixed(2)} KiB/session`,
          );
          const list = byName.get(name) ?? [];
          list.push(r);
          byName.set(name, list);
        } finally {
          await group.close();
        }
      } finally {
        await sys.stop();
      }
    }
  }
  return names.map((name) => {
    const runs = byName.get(name) ?? [];
    return {
      system: name,
      sessions: o.sessions,
      runs,
      medianBytesPerSession: median(runs.map((r) => r.bytesPerSession)),
    };
  });
}
