/**
 * The `[metrics]` HTTP endpoint: GET /metrics (Prometheus text), /healthz (200 while the process serves HTTP),
 * /readyz (200 when ready(), else 503, e.g. while starting or draining so a load balancer looks elsewhere).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListenAddr } from '../config/addr.js';
import { ConfigError, errorMessage, UnavailableError } from '../errors.js';
import type { Metrics } from './metrics.js';

export interface MetricsServerOptions {
  /** `host:port` as in `metrics.addr`; ":9100" = every interface, port 0 = any free port. */
  addr: string;
  metrics: Pick<Metrics, 'scrape' | 'contentType'>;
  /** Read on each /readyz request. */
  ready(): boolean;
}

export interface MetricsServer extends AsyncDisposable {
  readonly address: { host: string; port: number };
  /** Stops listening and drops open (keep-alive) connections; safe to call twice. */
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

/** Listens on `addr`; rejects with ConfigError for a bad address, UnavailableError if it cannot listen. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const listen = parseListenAddr(opts.addr);
  if (listen === undefined)
    throw new ConfigError(
      'metrics.addr',
      opts.addr,
      `metrics.addr must be host:port, got ${JSON.stringify(opts.addr)}`,
    );

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics':
        opts.metrics.scrape().then(
          (text) => send(res, 200, text, opts.metrics.contentType),
          (err: unknown) => send(res, 500, `scrape failed: ${errorMessage(err)}\n`),
        );
        return;
      case '/healthz':
        send(res, 200, 'ok\n');
        return;
      case '/readyz': {
        let ready = false;
        try {
          ready = opts.ready();
        } catch {
          ready = false; // a throwing probe means "not ready", never a crashed endpoint
        }
        send(res, ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
        return;
      }
      default:
        send(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  // Keep-alive sockets from a scraper must not hold the process open after close().
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        new UnavailableError(`metrics server cannot listen on ${opts.addr}: ${err.code ?? err.message}`, {
          cause: err,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(listen.port, listen.host === '' ? undefined : listen.host);
  });

  const bound = server.address();
  const a: Pick<AddressInfo, 'address' | 'port'> =
    typeof bound === 'object' && bound !== null ? bound : { address: listen.host, port: listen.port };
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return { address: { host: a.address, port: a.port }, close, [Symbol.asyncDispose]: close };
}
