import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagnosticRoute } from '../../src/demo/diagnostics.js';
import type { Actor } from '../../src/node/actors/actor.js';
import type { Node } from '../../src/node/node.js';
import { startEmbedded, until } from '../harness/embedded.js';
import { connect } from '../harness/ws-client.js';

const ROUTE = { JOIN: 50, SAY: 51, FORWARD: 52, LEAVE: 53, TASK: 54 } as const;

/** A room actor: counts what its bound users say; route SAY is the actor's, the node's handler is the fallback. */
function register(node: Node, seen: { events: string[]; tasks: number; hooks: string[]; said: number }): void {
  // Middleware runs for actor routes too: the actor replaces only the node's handler.
  node.router.use((ctx, next) => {
    if (ctx.route === ROUTE.SAY) seen.said++;
    return next();
  });
  const room = (actor: Actor) => {
    let said = 0;
    actor.addRoute(ROUTE.SAY, async (ctx) => {
      said++;
      await new Promise((r) => setTimeout(r, 1));
      ctx.response(`${actor.id}:${said}:${new TextDecoder().decode(ctx.body)}`);
    });
    actor.on('disconnect', (ctx) => {
      seen.events.push(`${actor.id} lost ${ctx.uid}`);
    });
    return undefined;
  };
  node.addRoute(ROUTE.JOIN, async (ctx) => {
    const id = new TextDecoder().decode(ctx.body);
    if (!node.actors.get('room', id)) await ctx.spawn('room', id, room);
    ctx.bindActor('room', id);
    ctx.response('joined');
  });
  node.addRoute(ROUTE.SAY, (ctx) => ctx.response('not in a room'), { stateful: true });
  node.addRoute(ROUTE.FORWARD, async (ctx) => {
    await ctx.next().catch((err: unknown) => ctx.response(`next failed: ${(err as { code?: string }).code}`));
  });
  node.addRoute(ROUTE.LEAVE, (ctx) => {
    ctx.unbindActor('room');
    ctx.response('left');
  });
  node.addRoute(ROUTE.TASK, (ctx) => {
    ctx.task(async () => {
      await new Promise((r) => setTimeout(r, 50));
      seen.tasks++;
    });
    ctx.response('started');
  });
  for (const h of ['init', 'start', 'close', 'destroy'] as const) node.hook(h, () => void seen.hooks.push(h));
}

test('actor routes - a bound user talks to its actor; unbound users and ctx.next fall back; events reach it', async (t) => {
  const seen = { events: [] as string[], tasks: 0, hooks: [] as string[], said: 0 };
  const e = await startEmbedded({ register: (node) => register(node, seen) });
  let stopped = false;
  t.after(() => (stopped ? undefined : e[Symbol.asyncDispose]()));
  assert.deepEqual(seen.hooks, ['init', 'start']);
  const c1 = await connect(e.url);
  const c2 = await connect(e.url);
  assert.equal((await c1.request(DiagnosticRoute.LOGIN, '11')).text, '11');
  assert.equal((await c2.request(DiagnosticRoute.LOGIN, '12')).text, '12');
  assert.equal((await c1.request(ROUTE.SAY, 'x')).text, 'not in a room');
  assert.equal((await c1.request(ROUTE.JOIN, 'r1')).text, 'joined');
  assert.equal((await c2.request(ROUTE.JOIN, 'r1')).text, 'joined');
  const said = await Promise.all([c1.request(ROUTE.SAY, 'a'), c2.request(ROUTE.SAY, 'b'), c1.request(ROUTE.SAY, 'c')]);
  assert.deepEqual(said.map((r) => r.text.split(':')[1]).sort(), ['1', '2', '3'], 'one message at a time');
  assert.equal(seen.said, 4, 'the route middleware ran before the node handler and before the actor');
  // ctx.next() from a node route: the actor has no handler for FORWARD, so the lookup fails with its code.
  assert.equal((await c1.request(ROUTE.FORWARD, '')).text, 'next failed: DUET_ERR_ACTOR_NOT_FOUND');
  assert.equal((await c2.request(ROUTE.LEAVE, '')).text, 'left');
  assert.equal((await c2.request(ROUTE.SAY, 'x')).text, 'not in a room');
  await c1.close();
  await until(() => seen.events.length === 1, 'the disconnect event at the actor');
  assert.deepEqual(seen.events, ['r1 lost 11']);

  assert.equal((await c2.request(ROUTE.TASK, '')).text, 'started');
  await c2.close();
  stopped = true;
  await e[Symbol.asyncDispose]();
  assert.equal(seen.tasks, 1, 'graceful stop waited for the task');
  assert.deepEqual(seen.hooks, ['init', 'start', 'close', 'destroy']);
  assert.equal(e.node.actors.list().length, 0, 'stop killed the actors');
});
