/**
 * A strict TypeScript consumer (moduleResolution nodenext): every type a node app or an embedder names is exported
 * by `duet` and `duet/client`. Type-checked against the installed package's .d.ts by test/package/pack.test.ts.
 */
import {
  type Adapters,
  type Bus,
  Cleanup,
  ConfigError,
  createAdapters,
  createGate,
  createNode,
  createTransport,
  type DuetConfig,
  DuetError,
  ErrorCode,
  type EventContext,
  type EventHandler,
  type Gate,
  type Handler,
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
  type Middleware,
  type Node,
  type NodeApp,
  packetCodec,
  type RequestContext,
  type RouteOptions,
  type Router,
  type Service,
  SessionKind,
} from 'duet';
import { Client, type ClientOptions, type Push, type Reply } from 'duet/client';

const logged: Middleware = async (ctx: RequestContext, next) => {
  const started = Date.now();
  await next();
  console.log(ctx.route, ctx.uid, Date.now() - started);
};
const echo: Handler = (ctx) => ctx.response(ctx.body);
const onConnect: EventHandler = (ctx: EventContext) => console.log('connect', ctx.cid);
const options: RouteOptions = { stateful: false, middlewares: [logged] };

export const app: NodeApp = {
  name: 'typed',
  register(node: Node) {
    node.addRoute(1, echo, options);
    node.on('connect', onConnect);
    const router: Router = node.router;
    router.group((g) => g.addRoute(2, echo));
    node.addRoute(3, async (ctx) => {
      await node.proxy.push({ kind: SessionKind.USER, target: ctx.uid, route: 3, body: ctx.body });
      ctx.response(new Uint8Array(0));
    });
  },
};

export async function embed(opts: LoadOptions): Promise<Service[]> {
  const loaded: LoadedConfig = loadConfig(opts);
  const config: DuetConfig = loaded.config;
  const adapters: Adapters = await createAdapters(config);
  const bus: Bus = adapters.bus;
  const codec = packetCodec(config);
  const node: Node = await createNode(config, adapters, codec, app);
  const gate: Gate = createGate(config, adapters, createTransport(config, codec), codec);
  const cleanup = new Cleanup();
  cleanup.defer(() => adapters.dispose());
  void bus;
  return [gate, node];
}

export function classify(err: unknown): string {
  if (err instanceof ConfigError) return `config ${err.path}`;
  if (err instanceof DuetError) return err.code === ErrorCode.TIMEOUT ? 'timeout' : err.code;
  return 'other';
}

export async function ask(options: ClientOptions): Promise<Reply> {
  const client = new Client(options);
  client.on('push', (push: Push) => console.log(push.route));
  await client.connect();
  return client.request(1, new TextEncoder().encode('hi'));
}
