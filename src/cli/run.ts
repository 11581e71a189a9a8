import { unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createAdapters, createGate, createNode, createTransport, packetCodec } from '../compose.js';
import { loadConfig } from '../config/load.js';
import type { DuetConfig } from '../config/schema.js';
import { demoApp, type NodeApp } from '../demo/app.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import { Cleanup } from '../lifecycle.js';
import { consoleLog } from '../log/types.js';

async function loadApp(module: string | undefined): Promise<NodeApp> {
  if (!module) return demoApp;
  const url = pathToFileURL(resolve(module)).href;
  const mod = (await import(url)) as { default?: NodeApp; app?: NodeApp };
  const app = mod.default ?? mod.app;
  if (!app || typeof app.register !== 'function') {
    throw new ConfigError(
      '--app',
      module,
      `--app ${module} must export a node app ({ register(node) }) as default or "app"`,
    );
  }
  return app;
}

/** Starts gate and/or node for `role`, runs until a signal, stops gracefully (second signal forces). */
export async function runServices(role: 'dev' | 'gate' | 'node', argv: string[], appModule?: string): Promise<number> {
  const { config } = loadConfig({ role, argv });
  const log = consoleLog({ role });
  const cleanup = new Cleanup();
  const services: Service[] = [];
  const adapters = await createAdapters(config);
  cleanup.defer(() => adapters.dispose());
  const codec = packetCodec(config);
  const lines: string[] = [];
  try {
    if (role === 'node' || role === 'dev') {
      const node = await createNode(config, adapters, codec, await loadApp(appModule), { log });
      await node.start();
      services.push(node);
      lines.push(`node ${node.name} ${node.id} (codec ${config.cluster.node.codec})`);
    }
    if (role === 'gate' || role === 'dev') {
      const gate = createGate(config, adapters, createTransport(config, codec), codec, { log });
      await gate.start();
      services.unshift(gate);
      const a = gate.address;
      lines.push(
        `gate ${gate.name} ${gate.id} listening on ws://${a?.host}:${a?.port}${config.network.ws.server.path}`,
      );
    }
  } catch (err) {
    for (const s of services) await s.stop({ graceful: false }).catch(() => {});
    await cleanup.run();
    throw err;
  }
  writePid(config, cleanup);
  console.log(
    `duet ${role}: ${lines.join('; ')} [bus ${adapters.names.bus}, locator ${adapters.names.locator}, registry ${adapters.names.registry}]`,
  );
  await waitForSignal(config, services, log);
  await cleanup.run();
  return 0;
}

function writePid(config: DuetConfig, cleanup: Cleanup): void {
  if (!config.pid) return;
  writeFileSync(config.pid, `${process.pid}\n`);
  cleanup.defer(() => unlinkSync(config.pid));
}

function waitForSignal(config: DuetConfig, services: Service[], log: ReturnType<typeof consoleLog>): Promise<void> {
  return new Promise((resolveStop) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn('second signal: forcing exit', { signal });
        process.exit(130);
      }
      stopping = true;
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
