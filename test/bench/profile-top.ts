/**
 * Summarises a V8 .cpuprofile (from --cpu-prof): self time per function, heaviest first, with the share of all
 * samples. `node --import tsx test/bench/profile-top.ts FILE.cpuprofile [N]`; also used by run.ts --profile.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  share: number;
}

export function topSelf(file: string, n = 25): { totalMs: number; idleMs: number; top: HotSpot[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    // The delta after a sample is the time it stands for.
    const d = (deltas[i + 1] ?? 0) as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, d));
  }
  const agg = new Map<string, HotSpot>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const cf = node.callFrame;
    const fn = cf.functionName || '(anonymous)';
    total += us;
    if (fn === '(idle)') {
      idle += us;
      continue;
    }
    const url = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(src|node_modules|test)\//, '$1/');
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${fn} ${where}`;
    const h = agg.get(key) ?? { fn, where, selfMs: 0, share: 0 };
    h.selfMs += us / 1000;
    agg.set(key, h);
  }
  const busy = (total - idle) / 1000;
  const top = [...agg.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, n);
  for (const h of top) h.share = busy > 0 ? h.selfMs / busy : 0;
  return { totalMs: total / 1000, idleMs: idle / 1000, top };
}

/**
 * Inclusive time (self + callees) of the project's own functions (src/, actors/), heaviest first: where the gate and
 * node code spends, whatever library or syscall does the work underneath.
 */
export function topInclusive(file: string, n = 20, match = /\/(src|actors)\//): HotSpot[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const incl = new Map<string, HotSpot>();
  let busy = 0;
  for (let i = 0; i < samples.length; i++) {
    const d = Math.max(0, (deltas[i + 1] ?? 0) as number);
    let id: number | undefined = samples[i] as number;
    const leaf = byId.get(id);
    if (!leaf || leaf.callFrame.functionName === '(idle)') continue;
    busy += d;
    // Count each function once per sample, however deep it recurses.
    const seen = new Set<string>();
    while (id !== undefined) {
      const node = byId.get(id);
      if (!node) break;
      const cf = node.callFrame;
      if (match.test(cf.url)) {
        const where = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(src|actors)\//, '$1/');
        const key = `${cf.functionName || '(anonymous)'} ${where}`;
        if (!seen.has(key)) {
          seen.add(key);
          const h = incl.get(key) ?? { fn: cf.functionName || '(anonymous)', where, selfMs: 0, share: 0 };
          h.selfMs += d / 1000;
          incl.set(key, h);
        }
      }
      id = parent.get(id);
    }
  }
  const top = [...incl.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, n);
  for (const h of top) h.share = busy > 0 ? (h.selfMs * 1000) / busy : 0;
  return top;
}

export function formatInclusive(name: string, top: HotSpot[]): string {
  const lines = [`${name}: inclusive time of project functions (% of busy)`];
  for (const h of top) {
    lines.push(
      `  ${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.fn}  ${h.where}`,
    );
  }
  return lines.join('\n');
}

export function formatTop(name: string, r: ReturnType<typeof topSelf>): string {
  const lines = [
    `${name}: ${(r.totalMs - r.idleMs).toFixed(0)} ms busy of ${r.totalMs.toFixed(0)} ms sampled (self time, % of busy)`,
  ];
  for (const h of r.top) {
    lines.push(
      `  ${(h.share * 100).toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.fn}  ${h.where}`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-top.ts FILE.cpuprofile [N]');
    process.exit(2);
  }
  console.log(formatTop(file, topSelf(file, Number(process.argv[3] ?? 25))));
  console.log(formatInclusive(file, topInclusive(file, Number(process.argv[3] ?? 25))));
}
