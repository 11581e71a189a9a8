/**
 * The start-up banner in due's shape: a logo, then 56-column boxes with `─` borders, the
 * title centred in the top border, rows `| text … |`. Rows too long for the box are cut with "…".
 */
import type { DuetConfig } from '../config/schema.js';
import { redactUrlCredentials } from './redact.js';

export const BANNER_WIDTH = 56;
/** Text columns inside `| ` and ` |`. */
const INNER = BANNER_WIDTH - 4;

// Figlet "slant", as due's own logo.
const LOGO = [
  '    ____  __  ______________',
  String.raw`   / __ \/ / / / ____/_  __/`,
  '  / / / / / / / __/   / /',
  ' / /_/ / /_/ / /___  / /',
  String.raw`/_____/\____/_____/ /_/`,
];

export interface BannerGlobal {
  pid: number;
  mode: string;
  /** A Date is shown as local time with its UTC offset. */
  time: Date | string;
}

export interface BannerGate {
  id: string;
  name: string;
  /** How the gate reaches nodes, e.g. "nats://127.0.0.1:4222" or "memory". */
  link: string;
  /** e.g. "[ws] 0.0.0.0:3553". */
  server: string;
  locator: string;
  registry: string;
}

export interface BannerNode {
  id: string;
  name: string;
  link: string;
  codec: string;
  locator: string;
  registry: string;
}

export interface BannerInput {
  version: string;
  global: BannerGlobal;
  gate?: BannerGate;
  node?: BannerNode;
}

const width = (s: string): number => [...s].length;

function top(title = ''): string {
  const dashes = BANNER_WIDTH - 2 - width(title);
  const left = Math.floor(dashes / 2);
  return `┌${'─'.repeat(left)}${title}${'─'.repeat(dashes - left)}┐`;
}

function row(text: string): string {
  const chars = [...text.replace(/[\r\n\t]/g, ' ')];
  const shown = chars.length > INNER ? `${chars.slice(0, INNER - 1).join('')}…` : chars.join('');
  return `| ${shown}${' '.repeat(INNER - width(shown))} |`;
}

const bottom = `└${'─'.repeat(BANNER_WIDTH - 2)}┘`;

/** One box: title (may be empty) and its rows. */
export function renderBox(title: string, rows: readonly string[]): string[] {
  return [top(title), ...rows.map(row), bottom];
}

const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');

/** `2026-11-24 20:15:39.123 +08:00`, local time. */
export function formatBannerTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} ` +
    `${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`
  );
}

/** The whole banner, lines joined with "\n" and ending in "\n". */
export function renderBanner(input: BannerInput): string {
  const indent = ' '.repeat(Math.floor((BANNER_WIDTH - Math.max(...LOGO.map(width))) / 2));
  const g = input.global;
  const lines = [
    ...LOGO.map((l) => indent + l),
    ...renderBox('', [`[Version] ${input.version}`, '[Protocol] due v2 packets over WebSocket']),
    ...renderBox('Global', [
      `PID: ${g.pid}`,
      `Mode: ${g.mode}`,
      `Time: ${typeof g.time === 'string' ? g.time : formatBannerTime(g.time)}`,
    ]),
  ];
  if (input.gate) {
    const x = input.gate;
    lines.push(
      ...renderBox('Gate', [
        `ID: ${x.id}`,
        `Name: ${x.name}`,
        `Link: ${x.link}`,
        `Server: ${x.server}`,
        `Locator: ${x.locator}`,
        `Registry: ${x.registry}`,
      ]),
    );
  }
  if (input.node) {
    const x = input.node;
    lines.push(
      ...renderBox('Node', [
        `ID: ${x.id}`,
        `Name: ${x.name}`,
        `Link: ${x.link}`,
        `Codec: ${x.codec}`,
        `Locator: ${x.locator}`,
        `Registry: ${x.registry}`,
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The banner's `Link` for a config: the bus and where it connects, with any user:password in URLs hidden. */
export function bannerLink(config: Pick<DuetConfig, 'bus'>): string {
  if (config.bus.adapter === 'memory') return 'memory (in-process bus)';
  return `nats ${config.bus.nats.servers.map(redactUrlCredentials).join(',')}`;
}
