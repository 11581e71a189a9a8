import { readFileSync } from 'node:fs';
import { type Authenticator, credsAuthenticator, nkeyAuthenticator, type TlsOptions } from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';

/**
 * How a NATS connection proves who it is and checks whom it talks to, beyond user/password/token: an nkey seed or
 * a creds file (decentralised JWT auth), and TLS with a CA and optionally a client certificate. Files are read
 * once, at start, so a wrong path stops the process with one line instead of failing every reconnect.
 */
export interface NatsSecurityFiles {
  /** A `.creds` file: the user JWT and its nkey seed (nsc writes these). */
  credsFile?: string;
  /** A file holding a user nkey seed (`SU...`). */
  nkeySeedFile?: string;
  /** CA of the server's certificate; TLS is required when it (or a client certificate) is set. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** What connect() takes: at most one authenticator (user/pass/token stay separate options) and the TLS options. */
export interface NatsSecurity {
  authenticator?: Authenticator;
  tls?: TlsOptions;
}

const SEED = /^SU[A-Z2-7]{50,}$/;
const CREDS = /-----BEGIN NATS USER JWT-----[\s\S]*-----BEGIN USER NKEY SEED-----/;

function read(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(key, path, `${key} could not be read: ${path}`, { cause: err });
  }
}

/** Reads and checks the files named in `o`; `keyPrefix` names the config block in errors (`bus.nats`). */
export function natsSecurity(o: NatsSecurityFiles, keyPrefix = 'bus.nats'): NatsSecurity {
  const out: NatsSecurity = {};
  if (o.credsFile && o.nkeySeedFile) {
    throw new ConfigError(
      `${keyPrefix}.nkeySeedFile`,
      o.nkeySeedFile,
      `${keyPrefix}.credsFile and ${keyPrefix}.nkeySeedFile are two ways to sign in: set one of them`,
    );
  }
  if (o.credsFile) {
    const text = read(`${keyPrefix}.credsFile`, o.credsFile);
    if (!CREDS.test(text)) {
      throw new ConfigError(
        `${keyPrefix}.credsFile`,
        o.credsFile,
        `${keyPrefix}.credsFile is not a NATS creds file (user JWT and nkey seed): ${o.credsFile}`,
      );
    }
    out.authenticator = credsAuthenticator(new TextEncoder().encode(text));
  }
  if (o.nkeySeedFile) {
    const seed = read(`${keyPrefix}.nkeySeedFile`, o.nkeySeedFile).trim();
    // The value is a secret: the message names the file, never its content.
    if (!SEED.test(seed)) {
      throw new ConfigError(
        `${keyPrefix}.nkeySeedFile`,
        o.nkeySeedFile,
        `${keyPrefix}.nkeySeedFile must hold a user nkey seed (SU...): ${o.nkeySeedFile}`,
      );
    }
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (Boolean(o.certFile) !== Boolean(o.keyFile)) {
    const missing = o.certFile ? 'keyFile' : 'certFile';
    throw new ConfigError(
      `${keyPrefix}.${missing}`,
      undefined,
      `${keyPrefix}.certFile and ${keyPrefix}.keyFile go together, ${missing} is missing`,
    );
  }
  if (o.caFile || o.certFile) {
    const tls: TlsOptions = {};
    if (o.caFile) tls.ca = read(`${keyPrefix}.caFile`, o.caFile);
    if (o.certFile && o.keyFile) {
      tls.cert = read(`${keyPrefix}.certFile`, o.certFile);
      tls.key = read(`${keyPrefix}.keyFile`, o.keyFile);
    }
    out.tls = tls;
  }
  return out;
}
