import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { BusRefusals, openDashboardBus } from '../admin/dashboard-bus.js';
import { type DashboardServer, startDashboardServer } from '../admin/dashboard-server.js';
import { connectNatsBus } from '../bus/nats-bus.js';
import { createAdapters, createGate, createNode, createTraceLeases, createTransport, packetCodec } from '../compose.js';
import { loadConfig } from '../config/load.js';
import type { DuetConfig } from '../config/schema.js';
import { demoApp } from '../demo/app.js';
import { ConfigError, errorMessage } from '../errors.js';
import { gateAdminResponder } from '../gate/admin-responder.js';
import type { Gate } from '../gate/gate.js';
import { Cleanup, type Service } from '../lifecycle.js';
import { bannerLink, renderBanner } from '../log/banner.js';
import { createProcessLogger, type Logger } from '../log/logger.js';
import { createMetrics } from '../metrics/metrics.js';
import { startMetricsServer } from '../metrics/server.js';
import { CompositeTransport } from '../network/composite-transport.js';
import { TcpTransport } from '../network/tcp-transport.js';
import type { Transport } from '../network/transport.js';
import type { WsTransportOptions } from '../network/ws-transport.js';
import { nodeAdminResponder } from '../node/admin-responder.js';
import type { NodeApp } from '../node/app.js';
import type { Node } from '../node/node.js';
import { OutageLog } from '../outage-log.js';
import { packageUrl } from '../package-root.js';
import { FileCaptureSink } from '../replay/file-capture-sink.js';
import { loadApp } from './load-app.js';

type WsHttpHandler = NonNullable<WsTransportOptions['httpHandler']>;

const VERSION = (JSON.parse(readFileSync(packageUrl('package.json'), 'utf8')) as { version: string }).version;

/** Starts gate and/or node for `role`, runs until a signal, stops gracefully (second signal forces). */
export async function runServices(
  role: 'dev' | 'gate' | 'node' | 'mesh',
  argv: string[],
  appModule?: string,
): Promise<number> {
  // A mesh process is a node that only provides services: node.toml, and an app is required.
  if (role === 'mesh' && !appModule)
    throw new ConfigError('--app', '', 'duet mesh needs --app MODULE (an app that provides services)');
  const { config, warnings } = loadConfig({ role: role === 'mesh' ? 'node' : role, argv });
  const log = createProcessLogger(config, role);
  const cleanup = new Cleanup();
  cleanup.defer(() => log.close());
  for (const w of warnings) log.warn(w);
  const services: Service[] = [];
  const metrics = createMetrics({ labels: { role } });
  cleanup.defer(() => metrics.close());
  // Permission refusals of the gate's own bus, for a dashboard that asks over it (502 instead of an empty answer).
  const busRefusals = new BusRefusals();
  const reportError = (err: unknown, context: string): void => {
    if (/bus|nats/i.test(context)) {
      busRefusals.note(err);
      metrics.busError(context);
    } else if (/locat/i.test(context)) metrics.locatorError(context);
    log.error('unexpected failure', { context, err: errorMessage(err) });
  };
  let gate: Gate | undefined;
  let transport: Transport | undefined;
  let node: Node | undefined;
  let app: NodeApp | undefined;
  let dashboard: DashboardServer | undefined;
  try {
    // The app loads before any connection, so a bad --app stops the process with one line and nothing to undo.
    if (role === 'mesh' && appModule) app = meshApp(await loadApp(appModule));
    else if (role === 'node' || role === 'dev') app = appModule ? await loadApp(appModule) : demoApp;
    const adapters = await createAdapters(config, reportError);
    cleanup.defer(() => adapters.dispose());
    const outages = new OutageLog(log, (d) =>
      d === 'nats' ? metrics.busError('nats disconnected') : metrics.locatorError('redis disconnected'),
    );
    cleanup.defer(adapters.watchHealth((d, up) => outages.set(d, up)));
    const codec = packetCodec(config);
    if (app) {
      node = await createNode(config, adapters, codec, app, {
        log,
        reportError,
        // Only when something scrapes it: a histogram observe per request is not free.
        onHandled: config.metrics.addr ? (route, seconds) => metrics.observeRouteLatency(route, seconds) : undefined,
        onCall: (service, method, outcome, seconds) => metrics.observeServiceCall(service, method, outcome, seconds),
      });
      if (role === 'mesh' && node.router.routes().length > 0)
        throw new ConfigError(
          '--app',
          appModule,
          `duet mesh: ${appModule} adds routes; a mesh app only provides services`,
        );
      await node.start();
      services.push(node);
      const admin = nodeAdminResponder({
        bus: adapters.bus,
        prefix: config.bus.nats.prefix,
        node,
        version: VERSION,
        log,
      });
      await admin.start();
      cleanup.defer(() => admin.close());
      metrics.watchNode(node.counters);
    }
    if (role === 'gate' || role === 'dev') {
      const http = role === 'dev' ? await devHttpHandler(config) : undefined;
      const capture = config.capture.file
        ? await FileCaptureSink.open({
            path: config.capture.file,
            maxBytes: config.capture.maxSizeBytes,
            maxFiles: config.capture.maxFiles,
            packet: config.packet,
            source: role,
            reportError,
          })
        : undefined;
      if (capture) cleanup.defer(() => capture.close());
      const t = createTransport(config, codec, { handler: http, reportError, log });
      transport = t;
      const gateId = config.cluster.gate.id || randomUUID();
      const leases = createTraceLeases(config, adapters, gateId, log);
      await leases.start();
      cleanup.defer(() => leases.close());
      gate = createGate(config, adapters, t, codec, { log, capture, reportError, trace: leases, gateId });
      await gate.start();
      services.unshift(gate);
      const admin = gateAdminResponder({
        bus: adapters.bus,
        prefix: config.bus.nats.prefix,
        gate,
        locator: adapters.locator,
        registry: adapters.registry,
        transport: t,
        version: VERSION,
        log,
      });
      await admin.start();
      cleanup.defer(() => admin.close());
      if (config.admin.addr) {
        // admin.nats: its own sign-in (a locked-down server lets only the admin user ask), else the gate's bus.
        const db = await openDashboardBus({
          config,
          shared: adapters.bus,
          sharedRefusals: busRefusals,
          connect: connectNatsBus,
          onError: reportError,
        });
        cleanup.defer(() => db.close());
        const d = await startDashboardServer({
          addr: config.admin.addr,
          token: config.admin.token,
          tls: config.admin.tls,
          bus: db.bus,
          refusals: db.refusals,
          prefix: config.bus.nats.prefix,
          log,
        });
        dashboard = d;
        cleanup.defer(() => d.close());
      }
      const g = gate;
      metrics.watchGate({
        counters: g.counters,
        connections: () => g.sessions.size,
        sessionsByState: () => ({ bound: g.sessions.boundCount, unbound: g.sessions.size - g.sessions.boundCount }),
        transport: () => t.stats,
        admission: () => g.admission.stats,
      });
    }
    if (config.metrics.addr) {
      const ms = await startMetricsServer({
        addr: config.metrics.addr,
        metrics,
        ready: () => services.every((s) => s.state === 'running'),
      });
      cleanup.defer(() => ms.close());
      log.info('metrics listening', { addr: `${ms.address.host}:${ms.address.port}` });
    }
    printBanner(config, role, gate, node, adapters.names);
  } catch (err) {
    for (const s of services) await s.stop({ graceful: false }).catch(() => {});
    await app?.stop?.();
    await cleanup.run();
    throw err;
  }
  writePid(config, cleanup);
  // One stable line that scripts and tests wait for (the banner is for people).
  const parts: string[] = [];
  if (node && role === 'mesh') parts.push(`mesh ${node.name} ${node.id} services ${node.services.names().join(',')}`);
  else if (node) parts.push(`node ${node.name} ${node.id} (codec ${config.cluster.node.codec})`);
  if (gate) {
    const a = gate.address;
    const host = a?.host.includes(':') ? `[${a.host}]` : a?.host;
    const scheme = config.network.ws.server.keyFile ? 'wss' : 'ws';
    parts.push(
      `gate ${gate.name} ${gate.id} listening on ${scheme}://${host}:${a?.port}${config.network.ws.server.path}`,
    );
    const tcp =
      transport instanceof CompositeTransport ? transport.children.find((c) => c instanceof TcpTransport) : undefined;
    if (tcp instanceof TcpTransport && tcp.address) {
      const t = tcp.address;
      parts.push(`tcp on ${tcp.isTls ? 'tls' : 'tcp'}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`);
    }
  }
  if (dashboard) parts.push(`admin on ${dashboard.scheme}://${dashboard.address.host}:${dashboard.address.port}/`);
  console.log(`duet ${role}: ${parts.join('; ')}`);
  await waitForSignal(config, services, log);
  await app?.stop?.();
  await cleanup.run();
  return 0;
}

/** The app of a mesh process: named `mesh` unless it names itself. */
function meshApp(app: NodeApp): NodeApp {
  return { name: app.name ?? 'mesh', register: (node) => app.register(node), stop: () => app.stop?.() };
}

/** The demo web page on the WebSocket port, when the demo game provides one (src/demo/static.ts). */
async function devHttpHandler(config: DuetConfig): Promise<WsHttpHandler | undefined> {
  const path = '../demo/static.js';
  try {
    const mod = (await import(path)) as {
      demoHttpHandler?: (o?: { packet: DuetConfig['packet']; heartbeatIntervalMs: number }) => WsHttpHandler;
    };
    // The page must speak the gate's packet settings (byte order, widths) and heartbeat.
    return mod.demoHttpHandler?.({
      packet: config.packet,
      heartbeatIntervalMs: config.network.ws.server.heartbeatIntervalMs,
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

function printBanner(
  config: DuetConfig,
  role: string,
  gate: Gate | undefined,
  node: Node | undefined,
  names: { locator: string; registry: string },
): void {
  const link = bannerLink(config);
  const a = gate?.address;
  const text = renderBanner({
    version: VERSION,
    global: { pid: process.pid, mode: config.mode, time: new Date() },
    gate: gate && {
      id: gate.id,
      name: gate.name,
      link,
      server: `[ws] ${a?.host}:${a?.port}`,
      locator: names.locator,
      registry: names.registry,
    },
    node: node && {
      id: node.id,
      name: node.name,
      link,
      codec: config.cluster.node.codec,
      locator: names.locator,
      registry: names.registry,
    },
  });
  if (role && config.log.stdout) process.stdout.write(`${text}\n`);
}

function writePid(config: DuetConfig, cleanup: Cleanup): void {
  if (!config.pid) return;
  writeFileSync(config.pid, `${process.pid}\n`);
  cleanup.defer(() => unlinkSync(config.pid));
}

function waitForSignal(config: DuetConfig, services: Service[], log: Logger): Promise<void> {
  return new Promise((resolveStop) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn('second signal: forcing exit', { signal });
        process.exit(130);
      }
      stopping = true;
      log.info('draining', { signal, deadlineMs: config.shutdownMaxWaitTimeMs });
      const deadlineMs = config.shutdownMaxWaitTimeMs;
      void (async () => {
        for (const s of services) {
          await s
            .stop({ graceful: true, deadlineMs })
            .catch((err: unknown) => log.error('stop failed', { err: errorMessage(err) }));
        }
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolveStop();
      })();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
