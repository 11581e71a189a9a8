/**
 * The dashboard's own NATS identity, in process: the admin.nats.* and admin.tls.* rules (one ConfigError line,
 * never a secret), the connect options built from admin.nats (user/pass, token, nkey seed file, creds file) with
 * bus.nats's servers and TLS, the refusal log, and a refused question answering 502 "Permissions Violation".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { nkeys, PermissionViolationError } from '@nats-io/transport-node';
import { BusRefusals, dashboardNatsOptions, hasOwnIdentity, openDashboardBus } from '../../src/admin/dashboard-bus.js';
import { startDashboardServer } from '../../src/admin/dashboard-server.js';
import { decodeJson, encodeJson } from '../../src/admin/replies.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { formatConfig, loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'duet-dash-bus-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const load = (...sets: string[]) =>
  loadConfig({ role: 'gate', env: {}, cwd: dir, argv: sets.flatMap((s) => ['--set', s]) }).config;
const NATS = ['bus.adapter="nats"', 'bus.nats.servers=["nats://127.0.0.1:1"]'];

test('dashboard bus - admin.nats.* needs bus.adapter = "nats": one ConfigError line, the secret never shown', () => {
  for (const key of ['user', 'pass', 'token', 'credsFile', 'nkeySeedFile']) {
    assert.throws(
      () => load('bus.adapter="memory"', `admin.nats.${key}="s3cret-value-${key}"`),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.path === `admin.nats.${key}` &&
        /needs bus\.adapter = "nats" \(got "memory"\)/.test(e.message) &&
        !e.message.includes('\n') &&
        (key === 'user' || key.endsWith('File') || !JSON.stringify([e.message, e.value]).includes('s3cret')),
      key,
    );
  }
  assert.equal(load(...NATS, 'admin.nats.user="duet-admin"').admin.nats.user, 'duet-admin');
  const printed = formatConfig(
    loadConfig({
      role: 'gate',
      env: { DUET__ADMIN__NATS__TOKEN: 'env-admin-token-9' },
      cwd: dir,
      argv: [...NATS, 'admin.nats.pass="flag-admin-pass-7"'].flatMap((s) => ['--set', s]),
    }),
  );
  assert.ok(printed.includes('admin.nats.pass') && printed.includes('admin.nats.token'), printed);
  assert.ok(!printed.includes('flag-admin-pass-7') && !printed.includes('env-admin-token-9'), 'secrets print as ***');
  assert.equal(hasOwnIdentity(load().admin.nats), false);
  assert.equal(hasOwnIdentity(load(...NATS, 'admin.nats.token="t"').admin.nats), true);
});

test('dashboard bus - admin.tls.certFile and keyFile go together', () => {
  for (const key of ['certFile', 'keyFile']) {
    assert.throws(
      () => load(`admin.tls.${key}="/x.pem"`),
      (e: unknown) => e instanceof ConfigError && e.path === `admin.tls.${key}` && /set both/.test(e.message),
    );
  }
  assert.equal(load('admin.tls.certFile="/c.pem"', 'admin.tls.keyFile="/k.pem"').admin.tls.keyFile, '/k.pem');
});

test('dashboard bus - connect options: bus.nats servers and TLS, admin.nats sign-in (user/pass, token)', () => {
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, 'not really a CA, read as is\n');
  const o = dashboardNatsOptions(
    load(
      'bus.adapter="nats"',
      'bus.nats.servers=["nats://10.0.0.1:4222","nats://10.0.0.2:4222"]',
      'bus.nats.user="duet-gate"',
      'bus.nats.pass="gate-pw"',
      `bus.nats.caFile="${ca}"`,
      'admin.nats.user="duet-admin"',
      'admin.nats.pass="admin-pw"',
    ),
  );
  assert.deepEqual(o.servers, ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222']);
  assert.equal(o.user, 'duet-admin', "the dashboard's user, never the gate's");
  assert.equal(o.pass, 'admin-pw');
  assert.equal(o.token, undefined);
  assert.equal(o.authenticator, undefined);
  assert.equal(o.tls?.ca, 'not really a CA, read as is\n');
  assert.match(o.name ?? '', /admin dashboard/);

  const t = dashboardNatsOptions(load(...NATS, 'admin.nats.token="admin-token"'));
  assert.deepEqual([t.user, t.pass, t.token, t.tls], [undefined, undefined, 'admin-token', undefined]);
  assert.throws(() => dashboardNatsOptions(load('bus.adapter="memory"')), ConfigError);
});

test('dashboard bus - connect options: nkeySeedFile and credsFile sign the server nonce with the right key', () => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const seedFile = join(dir, 'admin.nk');
  writeFileSync(seedFile, `${seed}\n`);
  const nonce = 'nonce-from-the-server';
  const verify = (answer: { nkey?: string; sig?: string }): boolean =>
    answer.nkey === user.getPublicKey() &&
    nkeys
      .fromPublic(user.getPublicKey())
      .verify(new TextEncoder().encode(nonce), Buffer.from(answer.sig ?? '', 'base64url'));

  const n = dashboardNatsOptions(load(...NATS, `admin.nats.nkeySeedFile="${seedFile}"`));
  assert.ok(n.authenticator);
  assert.equal(verify(n.authenticator(nonce) as { nkey?: string; sig?: string }), true);

  const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln';
  const creds = join(dir, 'admin.creds');
  writeFileSync(
    creds,
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
  );
  const c = dashboardNatsOptions(load(...NATS, `admin.nats.credsFile="${creds}"`));
  const answer = c.authenticator?.(nonce) as { jwt?: string; nkey?: string; sig?: string };
  assert.equal(answer.jwt, jwt);
  assert.equal(verify(answer), true);

  // Wrong files are ConfigErrors naming the admin.nats key, as bus.nats's are.
  assert.throws(
    () => dashboardNatsOptions(load(...NATS, 'admin.nats.nkeySeedFile="/no/such.nk"')),
    (e: unknown) => e instanceof ConfigError && e.path === 'admin.nats.nkeySeedFile',
  );
  assert.throws(
    () => dashboardNatsOptions(load(...NATS, `admin.nats.credsFile="${seedFile}"`)),
    (e: unknown) => e instanceof ConfigError && e.path === 'admin.nats.credsFile',
  );
});

test('dashboard bus - without admin.nats the dashboard shares the given bus and its refusal log', async () => {
  const shared = new MemoryBus();
  const sharedRefusals = new BusRefusals();
  const connect = () => Promise.reject(new Error('not called'));
  const d = await openDashboardBus({ config: load(...NATS), shared, sharedRefusals, connect });
  assert.equal(d.bus, shared);
  assert.equal(d.refusals, sharedRefusals, "the gate reporter's refusals");
  await d.close();
  assert.equal(shared.status, 'connected', 'closing the dashboard leaves the shared bus alone');
});

test('dashboard bus - refusals: permission violations are kept (wrapped or not), others ignored', () => {
  const r = new BusRefusals();
  const before = r.mark();
  assert.equal(r.note(new Error('something else')), false);
  const pv = PermissionViolationError.parse('Permissions Violation for Publish to "duet.admin"');
  assert.ok(pv);
  assert.equal(r.note(new Error('subscription duet.admin.reply.x: refused', { cause: pv })), true);
  assert.equal(
    r.since(before, (s) => s.startsWith('duet.')),
    'Permissions Violation for Publish to "duet.admin"',
  );
  assert.equal(
    r.since(before, (s) => s.startsWith('other.')),
    undefined,
  );
  assert.equal(
    r.since(r.mark(), () => true),
    undefined,
    'nothing after the latest mark',
  );
});

test('dashboard bus - a question the server refuses answers 502 "Permissions Violation", quickly', async (t) => {
  const bus = new MemoryBus();
  const refusals = new BusRefusals();
  // Stands in for nats-server: every admin question is refused, as config/nats-secure.conf does for the gate user.
  const sub = bus.subscribe('duet.admin');
  t.after(() => sub.drain());
  void (async () => {
    for await (const _ of sub)
      refusals.note(PermissionViolationError.parse('Permissions Violation for Publish to "duet.admin"'));
  })();
  const d = await startDashboardServer({ addr: '127.0.0.1:0', token: '', bus, refusals, statusWindowMs: 50 });
  t.after(() => d.close());
  const res = await fetch(`http://127.0.0.1:${d.address.port}/api/status`);
  assert.equal(res.status, 502);
  assert.match(((await res.json()) as { error: string }).error, /Permissions Violation for Publish to "duet\.admin"/);
});

test('dashboard bus - /api/sessions asks one gate; nothing answering is 404, a bad id 400', async (t) => {
  const bus = new MemoryBus();
  const sub = bus.subscribe('duet.admin.gate-u');
  t.after(() => sub.drain());
  void (async () => {
    for await (const m of sub) {
      const q = decodeJson(m.data);
      if (q?.cmd !== 'sessions' || typeof q.reply !== 'string') continue;
      const s = { cid: 1, uid: 77, state: 'active.bound', remote: '127.0.0.1', ageMs: 1200, bytesIn: 10, bytesOut: 20 };
      bus.publish(q.reply, encodeJson({ id: 'gate-u', kind: 'gate', total: 1, sessions: [s] }));
    }
  })();
  const d = await startDashboardServer({ addr: '127.0.0.1:0', token: '', bus });
  t.after(() => d.close());
  const base = `http://127.0.0.1:${d.address.port}`;
  const ok = await fetch(`${base}/api/sessions?gate=gate-u`);
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { gate: string; total: number; sessions: { uid: number; bytesOut: number }[] };
  assert.deepEqual([body.gate, body.total, body.sessions[0]?.uid, body.sessions[0]?.bytesOut], ['gate-u', 1, 77, 20]);
  assert.equal((await fetch(`${base}/api/sessions?gate=gate-none`)).status, 404);
  assert.equal((await fetch(`${base}/api/sessions?gate=a.b`)).status, 400);
});
