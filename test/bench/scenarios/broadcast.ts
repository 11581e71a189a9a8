/**
 * Scenario 5: broadcast fan-out. `sessions` clients connect; one of them asks the node (bench-app route 20) for
 * `pushes` broadcasts to every session (1 = the "one push to 5,000 sessions"; 20 = a burst within one
 * turn, where writes to the same socket can be coalesced); delivered messages/s = pushes received by all clients /
 * (last arrival - trigger send). Repeated `runs` times on the same sockets; the median is reported. The bare ws
 * server answers the same trigger with one ws.send per push per socket (the fan-out baseline).
 */
import { BenchRoute } from '../apps/bench-app.js';
import { LoadGroup } from '../lib/load.js';
import { cpuDelta, cpuSnapshot } from '../lib/proc-stats.js';
import { median, sleep } from '../lib/stats.js';
import type { System } from '../lib/systems.js';

export interface BroadcastResult {
  system: string;
  sessions: number;
  pushesPerRun: number;
  bodyBytes: number;
  runs: { delivered: number; seconds: number; msgsPerSec: number; cpuUsPerMsg: number }[];
  medianMsgsPerSec: number;
  medianCpuUsPerMsg: number;
}

export async function runBroadcast(
  sys: System,
  o: { sessions: number; pushes: number; bodyBytes: number; runs: number; log(l: string): void },
): Promise<BroadcastResult> {
  const group = await LoadGroup.open(
    { url: sys.url, protocol: 'duet', mode: 'broadcast', bodyBytes: 0, route: 1, pushRoute: BenchRoute.PUSHED },
    o.sessions,
    1,
  );
  const runs: BroadcastResult['runs'] = [];
  try {
    if (group.failed > 0) throw new Error(`${group.failed} of ${o.sessions} clients failed to connect`);
    const body = new Uint8Array(4 + o.bodyBytes).fill(0x62);
    new DataView(body.buffer).setUint32(0, o.pushes);
    for (let run = 0; run < o.runs; run++) {
      const start = (await group.count()).pushes;
      const want = start + o.sessions * o.pushes;
      const before = cpuSnapshot(sys.pids);
      const at = await group.trigger(BenchRoute.BROADCAST, body);
      const deadline = Date.now() + 30_000;
      let c = await group.count();
      while (c.pushes < want && Date.now() < deadline) {
        await sleep(50);
        c = await group.count();
      }
      const cpu = cpuDelta(before, cpuSnapshot(sys.pids));
      const delivered = c.pushes - start;
      const seconds = (c.lastPushEpoch - at) / 1000;
      const cpuUs = Object.values(cpu).reduce((a, b) => a + b, 0);
      const r = {
        delivered,
        seconds,
        msgsPerSec: delivered / seconds,
        cpuUsPerMsg: cpuUs / Math.max(1, delivered),
      };
      runs.push(r);
      o.log(
        `  ${sys.name} broadcast run ${run + 1}: ${delivered}/${o.sessions * o.pushes} delivered in ${(seconds * 1000).toFixed(0)} ms = ${Math.round(r.msgsPerSec)} msgs/s`,
      );
      await sleep(200);
    }
  } finally {
    await group.close();
  }
  return {
    system: sys.name,
    sessions: o.sessions,
    pushesPerRun: o.pushes,
    bodyBytes: o.bodyBytes,
    runs,
    medianMsgsPerSec: median(runs.map((r) => r.msgsPerSec)),
    medianCpuUsPerMsg: median(runs.map((r) => r.cpuUsPerMsg)),
  };
}
