import { parseUid } from '../locate/uid.js';
import type { Node } from '../node/node.js';
import { codeOf } from '../node/services/wire.js';

/** The diagnostic routes (docs/architecture.md): a stable contract for tests, benchmarks and outside suites. Raw bodies. */
export const DiagnosticRoute = { ECHO: 1, LOGIN: 2, WHOAMI: 3, LOGOUT: 4, RPC: 6, COUNTER: 7 } as const;

/** The service every demo node provides: `whoami` answers with the node's id. */
export const DIAG_SERVICE = 'diag';
/** The actor kind of route 7. */
export const COUNTER_KIND = 'counter';

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
    // bindGate closes any session that held this uid, on this gate or another (due#90 fixed). The two writes are
    // independent, so they go at once: a login costs one locator round trip of latency, not two.
    const [gate, nodeBind] = await Promise.allSettled([ctx.bindGate(uid), ctx.bindNode(uid)]);
    const failed = gate.status === 'rejected' ? gate : nodeBind.status === 'rejected' ? nodeBind : undefined;
    if (failed !== undefined) {
      // No node binding left behind for a user whose gate bind failed (best effort: the locator may be down).
      if (gate.status === 'rejected' && nodeBind.status === 'fulfilled') await ctx.unbindNode(uid).catch(() => {});
      // The locator is down or the session went away: the client gets an answer at once, not a silent timeout.
      // Only the error code: the message names internal addresses.
      ctx.response(encode(`error: login failed: ${errorCode(failed.reason)}`));
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

  node.services.provide(DIAG_SERVICE, { whoami: () => node.id });

  // Calls whoami of the named service through the normal balancing: `{caller}->{answering node}` or `error:{CODE}`.
  node.addRoute(DiagnosticRoute.RPC, async (ctx) => {
    const service = text.decode(ctx.body) || DIAG_SERVICE;
    try {
      const reply = await node.services.call(service, 'whoami');
      ctx.response(encode(`${node.id}->${reply.text()}`));
    } catch (err) {
      ctx.response(encode(`error:${codeOf(err)}`));
    }
  });

  // One `counter/{name}` in the whole cluster: add one, wait 1 ms (the mailbox holds the next caller), answer.
  node.actors.define(COUNTER_KIND, (actor) => {
    let count = 0;
    actor.handle('add', async () => {
      count++;
      await new Promise((r) => setTimeout(r, 1));
      return String(count);
    });
    return undefined;
  });

  node.addRoute(DiagnosticRoute.COUNTER, async (ctx) => {
    const name = text.decode(ctx.body);
    try {
      const reply = await node.actors.call(COUNTER_KIND, name, 'add');
      ctx.response(reply.body);
    } catch (err) {
      ctx.response(encode(`error:${codeOf(err)}`));
    }
  });

  // due leaves the user → node binding in place on disconnect; the app removes it.
  node.on('disconnect', async (ctx) => {
    if (ctx.uid !== 0) await ctx.unbindNode(ctx.uid);
  });
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'DUET_ERR_INTERNAL';
}
