import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AdmissionLoad,
  type AdmissionPolicy,
  admit,
  isOriginAllowed,
  isPathAllowed,
  pathnameOf,
  RefusalReason,
  type UpgradeRequest,
} from '../../src/network/admission.js';

const policy: AdmissionPolicy = { path: '/', origins: ['*'], maxConnNum: 10, maxConnPerIp: 0 };
const req: UpgradeRequest = { method: 'GET', url: '/', origin: undefined };
const load: AdmissionLoad = { connections: 0, connectionsFromIp: 0, isRefusingNew: false };

test('admission - a plain GET on the default policy is accepted', () => {
  assert.equal(admit(policy, req, load), undefined);
});

test('admission - methods other than GET get 405', () => {
  for (const method of ['POST', 'PUT', 'HEAD', 'OPTIONS', 'get', undefined]) {
    assert.deepEqual(admit(policy, { ...req, method }, load), { status: 405, reason: RefusalReason.METHOD }, method);
  }
});

test('admission - path "/" accepts every path (due uses DefaultServeMux)', () => {
  for (const url of ['/', '/ws', '/a/b?c=d', '/x#y', undefined]) assert.equal(isPathAllowed('/', url), true);
});

test('admission - any other path is an exact pathname match, query ignored; else 404', () => {
  const p = { ...policy, path: '/ws' };
  for (const url of ['/ws', '/ws?token=1', '/ws#f', 'http://example.com/ws?x']) {
    assert.equal(admit(p, { ...req, url }, load), undefined, url);
  }
  for (const url of ['/', '/ws/', '/wss', '/WS', '/ws/x', '//ws', 'ws', '', undefined, 'http://[bad']) {
    assert.deepEqual(admit(p, { ...req, url }, load), { status: 404, reason: RefusalReason.PATH }, String(url));
  }
});

test('admission - pathnameOf strips query and fragment and parses absolute-form', () => {
  assert.equal(pathnameOf('/a?b'), '/a');
  assert.equal(pathnameOf('/a#b?c'), '/a');
  assert.equal(pathnameOf('https://h:1/p/q?x'), '/p/q');
  assert.equal(pathnameOf('not a url'), undefined);
  assert.equal(pathnameOf(undefined), undefined);
});

test('admission - origins ["*"] admits any Origin and a missing one', () => {
  for (const origin of ['https://a.example', 'null', '', undefined]) assert.equal(isOriginAllowed(['*'], origin), true);
  assert.equal(isOriginAllowed(['https://a.example', '*'], 'https://other'), true);
});

test('admission - an empty origins list rejects every upgrade with 403', () => {
  const p = { ...policy, origins: [] };
  for (const origin of ['https://a.example', '', undefined]) {
    assert.deepEqual(admit(p, { ...req, origin }, load), { status: 403, reason: RefusalReason.ORIGIN });
  }
});

test('admission - origins match exactly (no prefix, case or trailing slash leniency)', () => {
  const p = { ...policy, origins: ['https://game.example'] };
  assert.equal(admit(p, { ...req, origin: 'https://game.example' }, load), undefined);
  for (const origin of [
    'https://game.example/',
    'https://GAME.example',
    'http://game.example',
    'https://game.example.evil',
    undefined,
  ]) {
    assert.deepEqual(admit(p, { ...req, origin }, load)?.status, 403, String(origin));
  }
});

test('admission - "" in the list admits requests without an Origin header', () => {
  const p = { ...policy, origins: ['', 'https://game.example'] };
  assert.equal(admit(p, { ...req, origin: undefined }, load), undefined);
  assert.equal(admit(p, { ...req, origin: 'https://game.example' }, load), undefined);
  assert.equal(admit(p, { ...req, origin: 'https://other.example' }, load)?.status, 403);
});

test('admission - refuseNew/closing answers 503', () => {
  assert.deepEqual(admit(policy, req, { ...load, isRefusingNew: true }), {
    status: 503,
    reason: RefusalReason.CLOSING,
  });
});

test('admission - maxConnNum answers 503 once the live count reaches it', () => {
  assert.equal(admit(policy, req, { ...load, connections: 9 }), undefined);
  assert.deepEqual(admit(policy, req, { ...load, connections: 10 }), { status: 503, reason: RefusalReason.MAX_CONN });
  assert.equal(admit(policy, req, { ...load, connections: 11 })?.status, 503);
});

test('admission - the per-IP limit answers 429; 0 means no limit', () => {
  const p = { ...policy, maxConnPerIp: 2 };
  assert.equal(admit(p, req, { ...load, connectionsFromIp: 1 }), undefined);
  assert.deepEqual(admit(p, req, { ...load, connectionsFromIp: 2 }), {
    status: 429,
    reason: RefusalReason.MAX_CONN_PER_IP,
  });
  assert.equal(admit(policy, req, { ...load, connectionsFromIp: 1_000_000 }), undefined);
});

test('admission - client mistakes are reported before load refusals', () => {
  const full: AdmissionLoad = { connections: 100, connectionsFromIp: 100, isRefusingNew: true };
  const p = { path: '/ws', origins: ['https://ok'], maxConnNum: 1, maxConnPerIp: 1 };
  assert.equal(admit(p, { method: 'POST', url: '/nope', origin: 'bad' }, full)?.status, 405);
  assert.equal(admit(p, { method: 'GET', url: '/nope', origin: 'bad' }, full)?.status, 404);
  assert.equal(admit(p, { method: 'GET', url: '/ws', origin: 'bad' }, full)?.status, 403);
  assert.equal(admit(p, { method: 'GET', url: '/ws', origin: 'https://ok' }, full)?.reason, RefusalReason.CLOSING);
  assert.equal(
    admit(p, { method: 'GET', url: '/ws', origin: 'https://ok' }, { ...full, isRefusingNew: false })?.reason,
    RefusalReason.MAX_CONN,
  );
  assert.equal(
    admit(p, { method: 'GET', url: '/ws', origin: 'https://ok' }, { ...full, isRefusingNew: false, connections: 0 })
      ?.status,
    429,
  );
});
