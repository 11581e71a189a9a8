// Plain Node ESM, no loader: the installed package's entries import and export what users call.
import * as duet from 'duet';
import * as client from 'duet/client';

const exported = new Map(Object.entries(duet));
const clientExported = new Map(Object.entries(client));
const functions = ['loadConfig', 'createAdapters', 'createGate', 'createNode', 'createTransport', 'packetCodec'];
const classes = ['Node', 'Gate', 'Router', 'RequestContext', 'EventContext', 'ClusterProxy', 'MemoryBus', 'Cleanup'];
const errors = ['DuetError', 'ConfigError', 'TimeoutError', 'UnavailableError'];
const missing = [...functions, ...classes, ...errors].filter((name) => typeof exported.get(name) !== 'function');
const clientMissing = ['Client', 'ConnectError', 'RequestTimeoutError'].filter(
  (n) => typeof clientExported.get(n) !== 'function',
);
const { config } = duet.loadConfig({ role: 'dev', argv: [] });
console.log(
  JSON.stringify({ missing, clientMissing, busAdapter: config.bus.adapter, errorCode: duet.ErrorCode.CONFIG_INVALID }),
);
