import { collectReplies } from '../admin/replies.js';
import { Subjects } from '../bus/subjects.js';
import { parseArgs } from '../config/args.js';
import { ConfigError } from '../errors.js';
import { connectObserverBus, intFlag, stringsFlag } from './bus-connect.js';

export const ADMIN_HELP = `duet status | locate UID | sessions --gate ID | kick UID [--force] | drain ID
  [--json] [--wait MS] [--server URL]... [--config DIR] [--set key=value]...
Asks the running cluster over its NATS bus (each gate and node answers on {prefix}.admin and {prefix}.admin.{id}):
  status          every gate and node: id, kind, name, state, version, uptime, host, sessions, routes
  locate UID      the gate holding the user, its node per group, its cids
  sessions        the sessions of one gate (--gate ID): cid, uid, state, remote address, age,
                  packet bytes in and out
  kick UID        closes the user's session (4000 kicked); --force without the closing handshake
  drain ID        the gate or node goes to hang: no new stateless traffic / connections, its sessions go on
Human-readable by default, --json prints one JSON document. Broadcast answers are awaited --wait ms (default 1000).
Exit codes: 0 ok; 1 unknown uid, no such instance, no instance answered; 2 bad usage.`;

export interface AdminIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
}

type Answer = Record<string, unknown>;

/** `duet status|locate|sessions|kick|drain`. */
export async function runAdmin(argv: string[], io: AdminIo = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const args = parseArgs(argv, {
    json: { type: 'boolean' },
    force: { type: 'boolean' },
    gate: { type: 'string' },
    wait: { type: 'string' },
    server: { type: 'string', multiple: true },
  });
  const [cmd = '', arg] = args.command;
  const json = args.options.json === true;
  const waitMs = intFlag('wait', args.options.wait) ?? 1000;
  const needs = (what: string): string => {
    if (cmd === 'sessions') {
      const g = args.options.gate;
      if (typeof g !== 'string' || g === '') throw new ConfigError('--gate', '', 'duet sessions needs --gate ID');
      return g;
    }
    if (arg === undefined) throw new ConfigError(cmd, '', `duet ${cmd} needs ${what}`);
    return arg;
  };
  const uid = cmd === 'locate' || cmd === 'kick' ? intFlag('UID', needs('UID')) : undefined;
  const target = cmd === 'drain' || cmd === 'sessions' ? needs('an instance id') : undefined;
  if (target !== undefined && !/^[A-Za-z0-9_-]+$/.test(target))
    throw new ConfigError(cmd, target, `duet ${cmd}: ${JSON.stringify(target)} is not an instance id`);
  const { bus, config } = await connectObserverBus(cmd, argv, stringsFlag(args.options.server));
  const prefix = config.bus.nats.prefix;
  const subjects = new Subjects(prefix);
  try {
    const ask = (subject: string, body: Answer, expect?: number): Promise<Answer[]> =>
      collectReplies({ bus, prefix, subject, body, windowMs: expect ? Math.max(waitMs, 3000) : waitMs, expect });
    const print = (value: unknown, human: () => string[]): void => {
      if (json) out(JSON.stringify(value, null, 2));
      else for (const l of human()) out(l);
    };
    const failed = (a: Answer[]): number => {
      const e = a.find((x) => typeof x.error === 'string');
      if (!e) return 0;
      err(`duet ${cmd}: ${String(e.id)}: ${String(e.error)}`);
      return 1;
    };
    switch (cmd) {
      case 'status': {
        const all = (await ask(subjects.adminAll(), { cmd })).sort((a, b) =>
          `${a.kind}${a.id}`.localeCompare(`${b.kind}${b.id}`),
        );
        if (all.length === 0) {
          err(`duet status: no gate or node answered within ${waitMs} ms (prefix "${prefix}")`);
          return 1;
        }
        print(all, () => [
          'KIND  ID                                    NAME        STATE  VERSION  UPTIME   HOST          SESSIONS  ROUTES',
          ...all.map((a) =>
            [
              String(a.kind).padEnd(5),
              String(a.id).padEnd(37),
              String(a.name).padEnd(11),
              String(a.state).padEnd(6),
              String(a.version).padEnd(8),
              `${Math.round(Number(a.uptimeMs) / 1000)}s`.padEnd(8),
              String(a.host).padEnd(13),
              String(a.sessions).padEnd(9),
              Array.isArray(a.routes) ? a.routes.join(',') || '-' : '-',
            ].join(' '),
          ),
        ]);
        return 0;
      }
      case 'locate':
      case 'kick': {
        const all = await ask(subjects.adminAll(), { cmd, uid, force: args.options.force === true });
        if (failed(all)) return 1;
        if (all.length === 0) {
          err(`duet ${cmd}: unknown uid ${uid}: no gate holds a session for it`);
          return 1;
        }
        if (cmd === 'locate')
          print(all.length === 1 ? all[0] : all, () =>
            all.map((a) => {
              const nodes = Object.entries((a.nodes ?? {}) as Record<string, string>)
                .map(([group, nid]) => `${group}=${nid}`)
                .join(' ');
              return `uid ${a.uid}: gate ${a.gate} cids ${(a.cids as number[]).join(',')} nodes ${nodes || '-'}`;
            }),
          );
        else
          print(all, () =>
            all.map((a) => `kicked uid ${a.uid} (cid ${a.cid} on gate ${a.id})${a.force ? ' without handshake' : ''}`),
          );
        return 0;
      }
      case 'sessions':
      case 'drain': {
        const id = target as string;
        const all = await ask(subjects.admin(id), { cmd }, 1);
        if (all.length === 0) {
          err(`duet ${cmd}: no such instance ${id} (nothing answered on ${subjects.admin(id)})`);
          return 1;
        }
        if (failed(all)) return 1;
        const a = all[0] as Answer;
        if (cmd === 'drain') print(a, () => [`${a.kind} ${id} is now ${a.state}`]);
        else {
          const list = (a.sessions ?? []) as Answer[];
          print(a, () => [
            `${a.total} session(s) on gate ${id}`,
            'CID         UID         STATE            REMOTE                 AGE       BYTES IN     BYTES OUT',
            ...list.map((s) =>
              [
                String(s.cid).padEnd(11),
                String(s.uid).padEnd(11),
                String(s.state).padEnd(16),
                String(s.remote).padEnd(22),
                `${Math.round(Number(s.ageMs) / 1000)}s`.padEnd(9),
                String(s.bytesIn ?? '-').padEnd(12),
                String(s.bytesOut ?? '-'),
              ].join(' '),
            ),
          ]);
        }
        return 0;
      }
      default:
        throw new ConfigError('command', cmd, `duet: unknown admin command ${cmd}`);
    }
  } finally {
    await bus.drain().catch(() => {});
  }
}
