import { DuetError, ErrorCode } from '../errors.js';
import type { RouteInfo } from '../registry/registry.js';
import type { RequestContext } from './context.js';

export type Handler = (ctx: RequestContext) => void | Promise<void>;
/** Runs before the handler; call `next()` to continue, or answer and return to stop the chain. */
export type Middleware = (ctx: RequestContext, next: () => void | Promise<void>) => void | Promise<void>;

export interface RouteOptions {
  stateful?: boolean;
  internal?: boolean;
  authorized?: boolean;
  middlewares?: Middleware[];
}

export interface RouteEntry {
  readonly info: RouteInfo;
  readonly handler: Handler;
  readonly middlewares: readonly Middleware[];
}

/**
 * Route id → handler and flags (due node router). Groups copy their parent's middleware list and add their own,
 * so a group's middleware never leaks upward (fastify plugin-override). Registration is refused after start.
 */
export class Router {
  readonly #routes: Map<number, RouteEntry>;
  readonly #middlewares: Middleware[];
  readonly #isSealed: () => boolean;
  defaultHandler: Handler | undefined;
  preHandler: Handler | undefined;
  postHandler: Handler | undefined;

  constructor(isSealed: () => boolean, routes = new Map<number, RouteEntry>(), middlewares: Middleware[] = []) {
    this.#routes = routes;
    this.#middlewares = middlewares;
    this.#isSealed = isSealed;
  }

  #checkOpen(what: string): void {
    if (this.#isSealed()) {
      throw new DuetError(ErrorCode.ROUTE_REGISTERED, `${what} must be registered before the node starts`);
    }
  }

  addRoute(route: number, handler: Handler, opts: RouteOptions = {}): this {
    this.#checkOpen(`route ${route}`);
    if (!Number.isInteger(route) || route < -(2 ** 31) || route >= 2 ** 31) {
      throw new DuetError(ErrorCode.ROUTE_ILLEGAL, `route must be a 32-bit integer, got ${route}`);
    }
    if (this.#routes.has(route))
      throw new DuetError(ErrorCode.ROUTE_REGISTERED, `route ${route} is already registered`);
    this.#routes.set(route, {
      info: {
        id: route,
        stateful: opts.stateful ?? false,
        internal: opts.internal ?? false,
        authorized: opts.authorized ?? false,
      },
      handler,
      middlewares: [...this.#middlewares, ...(opts.middlewares ?? [])],
    });
    return this;
  }

  /** Adds middleware to this router (and groups made from it afterwards). */
  use(mw: Middleware): this {
    this.#checkOpen('middleware');
    this.#middlewares.push(mw);
    return this;
  }

  /** A child scope sharing the route table with a copy of the middleware list. */
  group(fn: (g: Router) => void): this {
    this.#checkOpen('a route group');
    fn(new Router(this.#isSealed, this.#routes, [...this.#middlewares]));
    return this;
  }

  setDefaultHandler(h: Handler): this {
    this.#checkOpen('the default handler');
    this.defaultHandler = h;
    return this;
  }

  setPreHandler(h: Handler): this {
    this.#checkOpen('the pre handler');
    this.preHandler = h;
    return this;
  }

  setPostHandler(h: Handler): this {
    this.#checkOpen('the post handler');
    this.postHandler = h;
    return this;
  }

  get(route: number): RouteEntry | undefined {
    return this.#routes.get(route);
  }

  routes(): RouteInfo[] {
    return [...this.#routes.values()].map((e) => e.info);
  }
}

/** Runs middlewares then the handler; sync chains stay sync (no promise per message). */
export function runChain(entry: RouteEntry, ctx: RequestContext): void | Promise<void> {
  const mws = entry.middlewares;
  if (mws.length === 0) return entry.handler(ctx);
  const step = (i: number): void | Promise<void> => {
    if (i === mws.length) return entry.handler(ctx);
    return (mws[i] as Middleware)(ctx, () => step(i + 1));
  };
  return step(0);
}
