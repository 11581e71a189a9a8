// The same app in TypeScript: with no tsx in this project (and no type stripping in Node 20) the CLI refuses it.
import type { NodeApp } from 'duet';

const app: NodeApp = {
  name: 'consumer-ts',
  register(node) {
    node.addRoute(1, (ctx) => ctx.response(ctx.body));
  },
};
export default app;
