/**
 * The dashboard's own NATS sign-in against real nats-servers that demand it (configs written into a temp dir):
 * admin.nats.token, admin.nats.nkeySeedFile and admin.nats.credsFile (an operator-mode server with JWTs made
 * here) each open a working connection, and the wrong identity stops at start with UnavailableError. Then the
 * admin.tls listener: /api/status over https:// verified by the test CA, and no plain http:// answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { type DashboardBus, openDashboardBus } from '../../src/admin/dashboard-bus.js';
import { startDashboardServer } from '../../src/admin/dashboard-server.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { connectNatsBus } from '../../src/bus/nats-bus.js';
import { loadConfig } from '../../src/config/index.js';
import { ErrorCode } from '../../src/errors.js';
import { type NatsServer, startNats } from '../harness/nats.js';
import { makeTestCerts, type RedisTlsFiles } from '../harness/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'duet-dash-id-'));
const opened: DashboardBus[] = [];
const shared = new MemoryBus();

const config = (url: string, sets: string[]) =>
  loadConfig({
    role: 'gate',
    env: {},
    cwd: dir,
    argv: ['bus.adapter="nats"', `bus.nats.servers=["${url}"]`, ...sets].flatMap((s) => ['--set', s]),
  }).config;

async function open(url: string, sets: string[]): Promise<DashboardBus> {
  const d = await openDashboardBus({ config: config(url, sets), shared, connect: connectNatsBus });
  opened.push(d);
  return d;
}

/** A publish that comes back through a subscription on the same connection: it is signed in and works. */
async function roundTrip(d: DashboardBus): Promise<string> {
  assert.notEqual(d.bus, shared, 'the dashboard has a connection of its own');
  const sub = d.bus.subscribe('dash.check');
  await d.bus.flush();
  d.bus.publish('dash.check', new TextEncoder().encode('ok'));
  for await (const m of sub) {
    await sub.drain();
    return new TextDecoder().decode(m.data);
  }
  return '';
}

const isUnavailable = (err: unknown): boolean => (err as { code?: unknown }).code === ErrorCode.UNAVAILABLE;

type KeyPair = ReturnType<typeof nkeys.createUser>;

function b64(v: string | Uint8Array): string {
  return Buffer.from(v).toString('base64url');
}

/** A NATS JWT (v2 claims) for `sub`, signed by `issuer`, as nsc would write it. */
function natsJwt(issuer: KeyPair, sub: string, nats: Record<string, unknown>): string {
  const head = b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = {
    jti: b64(randomBytes(16)),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name: sub.slice(0, 8),
    sub,
    nats: { ...nats, version: 2 },
  };
  const body = b64(JSON.stringify(claims));
  return `${head}.${body}.${b64(issuer.sign(new TextEncoder().encode(`${head}.${body}`)))}`;
}

after(async () => {
  for (const d of opened) await d.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard identity - admin.nats sign-in on a connection of its own', () => {
  it('dashboard identity - admin.nats.token signs in to a token server; a wrong token stops at start', async (t) => {
    const nats: NatsServer = await startNats({ args: ['--auth', 'dash-admin-token'] });
    t.after(() => nats[Symbol.asyncDispose]());
    assert.equal(await roundTrip(await open(nats.url, ['admin.nats.token="dash-admin-token"'])), 'ok');
    await assert.rejects(open(nats.url, ['admin.nats.token="wrong-token"']), isUnavailable);
  });

  it('dashboard identity - admin.nats.user and pass sign in while bus.nats holds another user', async (t) => {
    const conf = join(dir, 'users.conf');
    writeFileSync(
      conf,
      'authorization { users = [ { user: g, password: gpw }, { user: a, password: apw, permissions: { publish: "dash.>", subscribe: "dash.>" } } ] }\n',
    );
    const nats = await startNats({ args: ['-c', conf] });
    t.after(() => nats[Symbol.asyncDispose]());
    const base = ['bus.nats.user="g"', 'bus.nats.pass="gpw"'];
    assert.equal(
      await roundTrip(await open(nats.url, [...base, 'admin.nats.user="a"', 'admin.nats.pass="apw"'])),
      'ok',
    );
    await assert.rejects(open(nats.url, [...base, 'admin.nats.user="a"', 'admin.nats.pass="gpw"']), isUnavailable);
  });

  it('dashboard identity - admin.nats.nkeySeedFile signs in to a server that only knows the public key', async (t) => {
    const user = nkeys.createUser();
    const seedFile = join(dir, 'admin.nk');
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    const other = join(dir, 'other.nk');
    writeFileSync(other, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`);
    const conf = join(dir, 'nkey.conf');
    writeFileSync(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
    const nats = await startNats({ args: ['-c', conf] });
    t.after(() => nats[Symbol.asyncDispose]());
    assert.equal(await roundTrip(await open(nats.url, [`admin.nats.nkeySeedFile="${seedFile}"`])), 'ok');
    await assert.rejects(open(nats.url, [`admin.nats.nkeySeedFile="${other}"`]), isUnavailable);
  });

  it('dashboard identity - admin.nats.credsFile signs in to an operator-mode server (user JWT and seed)', async (t) => {
    const operator = nkeys.createOperator();
    const account = nkeys.createAccount();
    const user = nkeys.createUser();
    const unlimited = {
      subs: -1,
      data: -1,
      payload: -1,
      imports: -1,
      exports: -1,
      wildcards: true,
      conn: -1,
      leaf: -1,
    };
    const opJwt = natsJwt(operator, operator.getPublicKey(), { type: 'operator' });
    const accJwt = natsJwt(operator, account.getPublicKey(), { type: 'account', limits: unlimited });
    const userJwt = natsJwt(account, user.getPublicKey(), {
      type: 'user',
      pub: {},
      sub: {},
      subs: -1,
      data: -1,
      payload: -1,
    });
    const conf = join(dir, 'operator.conf');
    writeFileSync(
      conf,
      `operator: ${opJwt}\nresolver: MEMORY\nresolver_preload: { ${account.getPublicKey()}: ${accJwt} }\n`,
    );
    const creds = join(dir, 'admin.creds');
    writeFileSync(
      creds,
      `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(user.getSeed())}\n------END USER NKEY SEED------\n`,
    );
    const nats = await startNats({ args: ['-c', conf] });
    t.after(() => nats[Symbol.asyncDispose]());
    assert.equal(await roundTrip(await open(nats.url, [`admin.nats.credsFile="${creds}"`])), 'ok');
    // Not signed in at all: an operator-mode server refuses.
    await assert.rejects(open(nats.url, ['admin.nats.user="nobody"']), isUnavailable);
  });
});

describe('dashboard identity - admin.tls', () => {
  let certs: RedisTlsFiles & AsyncDisposable;
  before(async () => {
    certs = await makeTestCerts();
  });
  after(() => certs?.[Symbol.asyncDispose]());

  it('dashboard identity - with admin.tls the dashboard serves https:// (verified by the test CA) and no plain http://', async (t) => {
    const d = await startDashboardServer({
      addr: '127.0.0.1:0',
      token: '',
      bus: new MemoryBus(),
      statusWindowMs: 50,
      tls: { certFile: certs.certFile, keyFile: certs.keyFile },
    });
    t.after(() => d.close());
    assert.equal(d.scheme, 'https');
    const ca = readFileSync(certs.caFile);
    const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: d.address.port, path: '/api/status', ca, servername: 'localhost' },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(got.status, 200, got.body);
    assert.deepEqual((JSON.parse(got.body) as { instances: unknown[] }).instances, []);

    // Plain http:// to the same port gets no answer at all: the TLS listener closes the socket.
    const plain = await fetch(`http://127.0.0.1:${d.address.port}/api/status`).then(
      (r) => r.status,
      (err: unknown) => err,
    );
    assert.ok(plain instanceof Error, `plain http answered ${String(plain)}`);
  });
});
