// A user's node app in plain JavaScript, run by the installed CLI: `duet node --app app.mjs`.
const text = new TextEncoder();

export default {
  name: 'consumer',
  register(node) {
    node.addRoute(1, (ctx) => ctx.response(ctx.body));
    node.addRoute(5, (ctx) => ctx.response(text.encode(`installed:${new TextDecoder().decode(ctx.body)}`)));
  },
};
