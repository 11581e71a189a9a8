import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { BANNER_WIDTH, bannerLink, formatBannerTime, renderBanner, renderBox } from '../../src/log/banner.js';

const cols = (s: string): number => [...s].length;

// Copied from due v2.5.8's output.
const DUE_GLOBAL = [
  '┌────────────────────────Global────────────────────────┐',
  '| PID: 10680                                           |',
  '| Mode: debug                                          |',
  '| Time: 2025-10-30 11:44:50.3154263 +0800 CST          |',
  '└──────────────────────────────────────────────────────┘',
];
const DUE_GATE = [
  '┌─────────────────────────Gate─────────────────────────┐',
  '| ID: c996de98-b542-11f0-8753-f4f19e1f0070             |',
  '| Name: gate                                           |',
  '| Link: 192.168.2.202:51121                            |',
  '| Server: [ws] 0.0.0.0:3553                            |',
  '| Locator: redis                                       |',
  '| Registry: consul                                     |',
  '└──────────────────────────────────────────────────────┘',
];

const gate = {
  id: 'c996de98-b542-11f0-8753-f4f19e1f0070',
  name: 'gate',
  link: '192.168.2.202:51121',
  server: '[ws] 0.0.0.0:3553',
  locator: 'redis',
  registry: 'consul',
};

test('banner - boxes match due byte for byte', () => {
  const out = renderBanner({
    version: 'v0.1.0',
    global: { pid: 10680, mode: 'debug', time: '2025-10-30 11:44:50.3154263 +0800 CST' },
    gate,
  });
  const lines = out.trimEnd().split('\n');
  const at = lines.indexOf(DUE_GLOBAL[0] as string);
  assert.ok(at > 0, 'Global box present');
  assert.deepEqual(lines.slice(at, at + DUE_GLOBAL.length), DUE_GLOBAL);
  assert.deepEqual(lines.slice(at + DUE_GLOBAL.length), DUE_GATE);
});

test('banner - every box line is exactly 56 columns, titles centred', () => {
  assert.equal(BANNER_WIDTH, 56);
  const out = renderBanner({
    version: 'v0.1.0',
    global: { pid: 1, mode: 'release', time: new Date(2026, 10, 24, 20, 15, 39, 7) },
    gate,
    node: {
      id: 'n-1',
      name: 'game',
      link: 'nats://127.0.0.1:4222',
      codec: 'proto',
      locator: 'redis',
      registry: 'nats',
    },
  });
  const boxLines = out.split('\n').filter((l) => /^[┌|└]/.test(l));
  assert.equal(boxLines.length, 4 + 5 + 8 + 8, 'version, Global, Gate and Node boxes');
  for (const l of boxLines) assert.equal(cols(l), 56, l);
  for (const title of ['Global', 'Gate', 'Node']) {
    const t = boxLines.find((l) => l.includes(title)) ?? assert.fail(title);
    const [left, right] = t.slice(1, -1).split(title);
    assert.ok(left !== undefined && right !== undefined && /^─+$/.test(left) && /^─+$/.test(right));
    assert.ok(Math.abs(cols(left) - cols(right)) <= 1, t);
  }
  const node = boxLines.slice(boxLines.findIndex((l) => l.includes('Node')));
  assert.deepEqual(
    node.slice(1, -1).map((l) => l.slice(2).trimEnd().replace(/ \|$/, '').trimEnd()),
    ['ID: n-1', 'Name: game', 'Link: nats://127.0.0.1:4222', 'Codec: proto', 'Locator: redis', 'Registry: nats'],
  );
  assert.ok(out.includes('| Time: 2026-11-24 20:15:39.007 '), 'a Date is shown as local time to the millisecond');
  assert.ok(out.endsWith('┘\n'));
});

test('banner - the logo spells duet in due slant style, centred over the boxes', () => {
  const logo = renderBanner({ version: 'v0', global: { pid: 1, mode: 'debug', time: 'now' } })
    .split('\n')
    .slice(0, 5);
  assert.equal(logo[0]?.trim(), '____  __  ______________');
  assert.equal(logo[4]?.trim(), String.raw`/_____/\____/_____/ /_/`);
  const indent = Math.min(...logo.map((l) => l.length - l.trimStart().length));
  const blockWidth = Math.max(...logo.map((l) => cols(l) - indent));
  assert.equal(indent, Math.floor((56 - blockWidth) / 2), 'the logo block is centred over 56 columns');
  for (const l of logo) assert.ok(cols(l) <= 56, l);
});

test('banner - a row too long for the box is cut with an ellipsis, and control characters cannot break the frame', () => {
  const [, long, ctrl] = renderBox('X', [`Link: ${'a'.repeat(80)}`, 'Name: a\nb\tc']);
  assert.equal(cols(long as string), 56);
  assert.ok(long?.endsWith('a… |'));
  assert.equal(ctrl, `| Name: a b c${' '.repeat(41)} |`);
});

test('banner - formatBannerTime shows the local UTC offset', () => {
  const d = new Date(2026, 0, 2, 3, 4, 5, 6);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const hh = String(Math.trunc(Math.abs(off) / 60)).padStart(2, '0');
  const mm = String(Math.abs(off) % 60).padStart(2, '0');
  assert.equal(formatBannerTime(d), `2026-01-02 03:04:05.006 ${sign}${hh}:${mm}`);
});

test('banner - the Link row names the bus and hides credentials in server URLs', () => {
  const servers = '["nats://u:secret@10.0.0.1:4222", "nats://10.0.0.2:4222"]';
  const gate = loadConfig({ role: 'gate', env: {}, argv: ['--set', `bus.nats.servers=${servers}`] }).config;
  assert.equal(bannerLink(gate), 'nats nats://***@10.0.0.1:4222,nats://10.0.0.2:4222');
  assert.equal(bannerLink(loadConfig({ role: 'dev', env: {} }).config), 'memory (in-process bus)');
});
