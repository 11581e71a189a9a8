/**
 * The node app of the bench: the diagnostic routes (1 = echo) plus a broadcast trigger.
 * BROADCAST (route 20): body = u32 count (big-endian) + payload; the node sends `count` fire-and-forget broadcasts of
 * the payload to every session on every gate (pushes on route 21), then answers with an empty body.
 */
import type { NodeApp } from '../../../src/demo/app.js';
import { registerDiagnostics } from '../../../src/demo/diagnostics.js';
import type { Node } from '../../../src/node/node.js';
import { SessionKind } from '../../../src/node/proxy.js';

export const BenchRoute = { ECHO: 1, BROADCAST: 20, PUSHED: 21 } as const;

const app: NodeApp = {
  name: 'game',
  register(node: Node) {
    registerDiagnostics(node);
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
};
export default app;
