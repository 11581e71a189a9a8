import { parseUid } from '../locate/uid.js';
import type { Node } from '../node/node.js';

/** The diagnostic routes (DESIGN.md): a stable contract for tests, benchmarks and outside suites. Raw bodies. */
export const DiagnosticRoute = { ECHO: 1, LOGIN: 2, WHOAMI: 3, LOGOUT: 4 } as const;

const text = new TextDecoder();
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

export function registerDiagnostics(node: Node): void {
  node.addRoute(DiagnosticRoute.ECHO, (ctx) => ctx.response(ctx.body));

  node.addRoute(DiagnosticRoute.LOGIN, async (ctx) => {
    const body = ctx.body.slice();
    const uid = parseUid(text.decode(body));
    if (uid === undefined || uid === 0) {
      ctx.response(
        encode(`error: login body must be a non-zero decimal uid, got ${JSON.stringify(text.decode(body))}`),
      );
      return;
    }
    try {
      // bindGate closes any session that held this uid, on this gate or another (due#90 fixed).
      await ctx.bindGate(uid);
      await ctx.bindNode(uid);
    } catch (err) {
      // The locator is down or the session went away: the client gets an answer at once, not a silent timeout.
      // Only the error code: the message names internal addresses.
      ctx.response(encode(`error: login failed: ${errorCode(err)}`));
      return;
    }
    ctx.response(body);
  });

  node.addRoute(DiagnosticRoute.WHOAMI, (ctx) => ctx.response(encode(`${ctx.uid}@${node.id}`)), { stateful: true });

  node.addRoute(
    DiagnosticRoute.LOGOUT,
    async (ctx) => {
      await ctx.unbindNode();
      await ctx.unbindGate();
      ctx.response(new Uint8Array(0));
    },
    { stateful: true },
  );

  // due leaves the user → node binding in place on disconnect; the app removes it.
  node.on('disconnect', async (ctx) => {
    if (ctx.uid !== 0) await ctx.unbindNode(ctx.uid);
  });
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'DUET_ERR_INTERNAL';
}
