import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { ConfigError } from '../errors.js';

/** Checks of the Consul registry's options, and the HTTPS agent its TLS files make. */

/** host:port (IPv6 in brackets); a ConfigError naming `path` otherwise. */
export function splitAddr(path: string, addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  const host = addr.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(addr.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new ConfigError(path, addr, `${path} must be host:port, got "${addr}"`);
  }
  return { host, port };
}

/** `v` ms, or `dflt` when unset; a ConfigError naming `path` when not positive. */
export function positive(path: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0)
    throw new ConfigError(path, v, `${path} must be a positive number of ms, got ${v}`);
  return v;
}

/** HTTPS to the Consul agent: the CA that signed its certificate, and optionally a client certificate. */
export interface ConsulTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

function read(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(key, path, `${key} could not be read: ${path}`, { cause: err });
  }
}

/** A keep-alive HTTPS agent for the files set, or undefined when none is (plain HTTP unless scheme says https). */
export function consulTlsAgent(o: ConsulTlsFiles | undefined): Agent | undefined {
  if (!o || (!o.caFile && !o.certFile && !o.keyFile)) return undefined;
  if (Boolean(o.certFile) !== Boolean(o.keyFile)) {
    const missing = o.certFile ? 'keyFile' : 'certFile';
    throw new ConfigError(
      `registry.consul.${missing}`,
      undefined,
      `registry.consul.certFile and registry.consul.keyFile go together, ${missing} is missing`,
    );
  }
  return new Agent({
    keepAlive: true,
    ...(o.caFile ? { ca: read('registry.consul.caFile', o.caFile) } : {}),
    ...(o.certFile && o.keyFile
      ? { cert: read('registry.consul.certFile', o.certFile), key: read('registry.consul.keyFile', o.keyFile) }
      : {}),
  });
}
