/**
 * The node app of the bench: the diagnostic routes (1 = echo) plus a broadcast trigger.
 * BROADCAST (route 20): body = u32 count (big-endian) + payload; the node sends `count` fire-and-forget broadcasts of
 * the payload to every session on every gate (pushes on route 21), then answers with an empty body.
 */
import { readFileSync } from 'node:fs';
import type { NodeApp } from '../../../src/demo/app.js';
import { registerDiagnostics } from '../../../src/demo/diagnostics.js';
import type { Node } from '../../../src/node/node.js';
import { SessionKind } from '../../../src/node/proxy.js';

export const BenchRoute = { ECHO: 1, BROADCAST: 20, PUSHED: 21, STALL: 30 } as const;

/**
 * STALL (route 30): answers the longest time the process's main thread ran between two 5 ms timer turns since the
 * previous call, in µs (u32 big-endian), and resets it. Run time of the main thread (Linux schedstat), not wall time
 * and not GC helper threads: on a shared machine the process may wait for a core, which is not the gate holding its
 * loop. Elsewhere the process's CPU time stands in. In `duet dev` this is the gate's own process.
 */
let stallTimer: NodeJS.Timeout | undefined;
let worstCpuMicros = 0;
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
function mainThreadRunMicros(): number {
  try {
    return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1000;
  } catch {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
}
function watchStalls(): void {
  let last = mainThreadRunMicros();
  stallTimer = setInterval(() => {
    const now = mainThreadRunMicros();
    worstCpuMicros = Math.max(worstCpuMicros, now - last);
    last = now;
  }, 5);
  stallTimer.unref();
}

const app: NodeApp = {
  name: 'game',
  register(node: Node) {
    registerDiagnostics(node);
    watchStalls();
    node.addRoute(BenchRoute.STALL, (ctx) => {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, Math.min(2 ** 32 - 1, worstCpuMicros));
      worstCpuMicros = 0;
      ctx.response(out);
    });
    node.addRoute(BenchRoute.BROADCAST, async (ctx) => {
      const b = ctx.body;
      const count = b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0) : 1;
      const payload = b.slice(4);
      for (let i = 0; i < count; i++) {
        await node.proxy.broadcast({ kind: SessionKind.CONN, route: BenchRoute.PUSHED, body: payload });
      }
      ctx.response(new Uint8Array(0));
    });
  },
  stop() {
    clearInterval(stallTimer);
  },
};
export default app;
