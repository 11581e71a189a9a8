import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { natsSecurity } from '../../src/bus/nats-security.js';
import { type Adapters, createAdapters } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import { sampleInstance } from '../contract/registry.contract.js';
import { startConsulStandin } from '../harness/consul-standin.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { makeTestCerts, type RedisTlsFiles } from '../harness/redis.js';

/**
 * The lock-down keys from config to connection: bus.nats nkeySeedFile / credsFile / caFile / certFile / keyFile
 * against real nats-servers that demand them, registry.consul token and TLS against the HTTPS stand-in, and the
 * configuration errors for files that are missing or wrong (one line, naming the key, never the secret).
 */

const dir = mkdtempSync(join(tmpdir(), 'duet-secure-'));
let certs: RedisTlsFiles & AsyncDisposable;
const opened: Adapters[] = [];

function config(sets: string[]) {
  // cwd without config/: only defaults (memory adapters) and these --set values.
  return loadConfig({ role: 'gate', env: {}, cwd: dir, argv: sets.flatMap((s) => ['--set', s]) }).config;
}

async function adapters(sets: string[]): Promise<Adapters> {
  const a = await createAdapters(config(sets));
  opened.push(a);
  return a;
}

/** A publish that comes back through a subscription on the same bus: the connection really works. */
async function roundTrip(a: Adapters): Promise<string> {
  const sub = a.bus.subscribe('secure.check');
  await a.bus.flush();
  a.bus.publish('secure.check', new TextEncoder().encode('ok'));
  for await (const m of sub) {
    await sub.drain();
    return new TextDecoder().decode(m.data);
  }
  return '';
}

const isUnavailable = (err: unknown): boolean => (err as { code?: unknown }).code === ErrorCode.UNAVAILABLE;
const isConfig =
  (key: string) =>
  (err: unknown): boolean =>
    err instanceof ConfigError && err.path === key;

before(async () => {
  certs = await makeTestCerts();
});

after(async () => {
  for (const a of opened) await a.dispose();
  await certs?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

describe('secure connect - NATS', () => {
  it('secure connect - bus.nats.nkeySeedFile signs in to a server that only knows the public key', async (t) => {
    const user = nkeys.createUser();
    const seedFile = join(dir, 'user.nk');
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    const conf = join(dir, 'nkey.conf');
    writeFileSync(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
    const nats: NatsServer = await startNats({ args: ['-c', conf] });
    t.after(() => nats[Symbol.asyncDispose]());
    const base = ['bus.adapter="nats"', `bus.nats.servers=["${nats.url}"]`];
    const a = await adapters([...base, `bus.nats.nkeySeedFile="${seedFile}"`]);
    assert.equal(await roundTrip(a), 'ok');
    await assert.rejects(createAdapters(config(base)), isUnavailable, 'without the seed the server refuses');
  });

  it('secure connect - bus.nats.caFile verifies a TLS server; certFile and keyFile answer one that wants a client certificate', async (t) => {
    const tls = ['--tls', '--tlscert', certs.certFile, '--tlskey', certs.keyFile];
    const server = await startNats({ args: tls });
    t.after(() => server[Symbol.asyncDispose]());
    const base = ['bus.adapter="nats"', `bus.nats.servers=["${server.url}"]`];
    assert.equal(await roundTrip(await adapters([...base, `bus.nats.caFile="${certs.caFile}"`])), 'ok');
    await assert.rejects(createAdapters(config(base)), isUnavailable, 'a self-signed CA is not trusted by default');

    const mutual = await startNats({ args: [...tls, '--tlsverify', '--tlscacert', certs.caFile] });
    t.after(() => mutual[Symbol.asyncDispose]());
    const mbase = ['bus.adapter="nats"', `bus.nats.servers=["${mutual.url}"]`, `bus.nats.caFile="${certs.caFile}"`];
    const withCert = [`bus.nats.certFile="${certs.certFile}"`, `bus.nats.keyFile="${certs.keyFile}"`];
    assert.equal(await roundTrip(await adapters([...mbase, ...withCert])), 'ok');
    await assert.rejects(createAdapters(config(mbase)), isUnavailable, 'no client certificate, no connection');
  });

  it('secure connect - bus.nats.credsFile signs the server nonce with the seed of the creds file', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln';
    const creds = join(dir, 'user.creds');
    writeFileSync(
      creds,
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
    );
    const auth = natsSecurity({ credsFile: creds }).authenticator;
    assert.ok(auth);
    const nonce = 'server-nonce-123';
    const answer = auth(nonce) as { jwt?: string; nkey?: string; sig?: string };
    assert.equal(answer.jwt, jwt);
    assert.equal(answer.nkey, user.getPublicKey());
    const sig = Buffer.from(answer.sig ?? '', 'base64url');
    assert.equal(nkeys.fromPublic(user.getPublicKey()).verify(new TextEncoder().encode(nonce), sig), true);
  });

  it('secure connect - missing or wrong files are config errors naming the key, never the secret', () => {
    const seedFile = join(dir, 'not-a-seed.nk');
    writeFileSync(seedFile, 'SUPERSECRETBUTNOTASEED\n');
    assert.throws(() => natsSecurity({ nkeySeedFile: '/no/such/seed' }), isConfig('bus.nats.nkeySeedFile'));
    assert.throws(
      () => natsSecurity({ nkeySeedFile: seedFile }),
      (err: unknown) => isConfig('bus.nats.nkeySeedFile')(err) && !String((err as Error).message).includes('SUPER'),
    );
    assert.throws(() => natsSecurity({ credsFile: seedFile }), isConfig('bus.nats.credsFile'));
    assert.throws(
      () => natsSecurity({ credsFile: seedFile, nkeySeedFile: seedFile }),
      isConfig('bus.nats.nkeySeedFile'),
    );
    assert.throws(() => natsSecurity({ certFile: certs.certFile }), isConfig('bus.nats.keyFile'));
    assert.throws(() => natsSecurity({ caFile: '/no/ca.pem' }), isConfig('bus.nats.caFile'));
  });
});

describe('secure connect - Consul', () => {
  it('secure connect - registry.consul.token is sent with every call, over HTTPS verified by registry.consul.caFile', async (t) => {
    const s = await startConsulStandin({ tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
    t.after(() => s.close());
    const base = [
      'registry.adapter="consul"',
      `registry.consul.addr="${s.addr}"`,
      'registry.consul.token="acl-secret"',
    ];
    const a = await adapters([...base, `registry.consul.caFile="${certs.caFile}"`]);
    await a.registry.register(sampleInstance({ id: 'secure-1', kind: 'node' }));
    assert.ok(s.services.has('node-secure-1'), 'registered over HTTPS');
    assert.ok(s.requests.length > 0);
    assert.ok(
      s.requests.every((r) => r.token === 'acl-secret'),
      'every call carries X-Consul-Token',
    );
    // Another CA: the agent's certificate is not trusted and the call fails instead of going out unverified.
    const other = await makeTestCerts();
    t.after(() => other[Symbol.asyncDispose]());
    const untrusted = await adapters([...base, `registry.consul.caFile="${other.caFile}"`]);
    await assert.rejects(untrusted.registry.register(sampleInstance({ id: 'secure-2', kind: 'node' })), isUnavailable);
    assert.equal(s.services.has('node-secure-2'), false);
    await assert.rejects(
      createAdapters(config([...base, `registry.consul.certFile="${certs.certFile}"`])),
      isConfig('registry.consul.keyFile'),
    );
  });

  it('secure connect - registry.consul.certFile and keyFile answer an agent that verifies clients', async (t) => {
    const s = await startConsulStandin({ tls: { ...certs, clientCaFile: certs.caFile } });
    t.after(() => s.close());
    const base = [
      'registry.adapter="consul"',
      `registry.consul.addr="${s.addr}"`,
      `registry.consul.caFile="${certs.caFile}"`,
    ];
    const withCert = [`registry.consul.certFile="${certs.certFile}"`, `registry.consul.keyFile="${certs.keyFile}"`];
    const a = await adapters([...base, ...withCert]);
    await a.registry.register(sampleInstance({ id: 'mtls-1', kind: 'node' }));
    assert.ok(s.services.has('node-mtls-1'));
    const anonymous = await adapters(base);
    await assert.rejects(anonymous.registry.register(sampleInstance({ id: 'mtls-2', kind: 'node' })), isUnavailable);
    assert.equal(s.services.has('node-mtls-2'), false);
  });
});
