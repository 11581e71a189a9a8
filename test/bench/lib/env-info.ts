import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { natsServerBin } from '../../harness/nats.js';

/** Where and with what the bench ran: recorded in the JSON and printed above the table. */
export interface EnvInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  natsServer: string;
  ws: string;
  pinus: string;
  /** `git rev-parse --short HEAD` of the duet that ran, plus "+dirty" when src/ or actors/ had uncommitted changes. */
  commit: string;
  loadavgStart: number[];
}

function gitCommit(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'actors', 'proto'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

function pkgVersion(dir: string): string {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

export function envInfo(root: string, pinusDir: string): EnvInfo {
  let natsServer = 'unknown';
  try {
    natsServer = execFileSync(natsServerBin(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  const model =
    readFileSync('/proc/cpuinfo', 'utf8')
      .match(/^model name\s*:\s*(.*)$/m)?.[1]
      ?.trim() ??
    cpus()[0]?.model ??
    '?';
  return {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpuModel: model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    natsServer,
    ws: pkgVersion(join(root, 'node_modules', 'ws')),
    pinus: existsSync(join(pinusDir, 'node_modules', 'pinus'))
      ? pkgVersion(join(pinusDir, 'node_modules', 'pinus'))
      : 'absent',
    commit: gitCommit(process.env.DUET_BENCH_ROOT ?? root),
    loadavgStart: loadavg(),
  };
}
