import type { Bus } from '../bus/bus.js';
import { ResultCode, ResultsCodec } from '../bus/envelope.js';
import { Subjects } from '../bus/subjects.js';
import type { Locator } from '../locate/locator.js';
import type { NodeApp } from '../node/app.js';
import { Node, type NodeOptions } from '../node/node.js';
import { PacketCodec } from '../packet/codec.js';
import type { Registry } from '../registry/registry.js';
import { loadCapture } from './capture-file.js';
import type { CaptureEntry, CaptureHeader } from './capture-records.js';
import { compareNodeOps, decodeGateOps, type NodeOp, type NodeReplayDiff, nodeOpsOf } from './node-ops.js';

export const DEFAULT_NODE_REPLAY_STEP_TIMEOUT_MS = 2000;
export const DEFAULT_NODE_REPLAY_QUIET_MS = 50;

export interface ReplayNodeOptions {
  /** The node app under test (its register() runs on a fresh node; its stop() after). */
  app: NodeApp;
  /** A bus capture (`duet capture --node ID --out FILE`): a file path, or a loaded capture. */
  capture: string | { header: CaptureHeader; entries: readonly CaptureEntry[] };
  /** The recorded node to replay, when the capture holds several. Default: the node of the first delivery. */
  nid?: string;
  /** Node options beyond the in-process adapters (name, body codec, ...). The node id stays the recorded one. */
  node?: Partial<Omit<NodeOptions, 'bus' | 'locator' | 'registry' | 'codec' | 'id'>>;
  /** Bus subject prefix of the capture. Default "duet". */
  prefix?: string;
  /** Longest wait, before feeding an envelope, for the ops the capture shows the node sending before it. */
  stepTimeoutMs?: number;
  /** After the last recorded op arrived, how long extra (unrecorded) ops may still show up. */
  quietMs?: number;
}

export interface NodeReplayReport {
  ok: boolean;
  /** Recorded gate → node envelopes fed to the node. */
  fed: number;
  /** Recorded ops compared. */
  compared: number;
  /** Ops the node produced, per gate, in order. */
  produced: NodeOp[];
  diffs: NodeReplayDiff[];
}

/** Where the replayed node runs: a bus of its own (the in-process one: `replayNode` in src/compose.ts picks it). */
export interface NodeReplayAdapters {
  bus: Bus;
  locator: Locator;
  registry: Registry;
}

/**
 * Replays a bus capture into a node app in this process, on adapters of its own, with a
 * gate stand-in that records every op the node sends and acknowledges the acked ones (bind, kick...) with OK.
 * The recorded deliveries and events are fed one envelope at a time, each after the ops the capture shows before
 * it have been produced (or the step timeout), so pushes caused by a request are ordered after it as recorded.
 * Then each gate's produced ops are compared in order with the recorded ones: responses, pushes, binds, kicks.
 */
export async function replayNodeOn(adapters: NodeReplayAdapters, o: ReplayNodeOptions): Promise<NodeReplayReport> {
  const { header, entries } = typeof o.capture === 'string' ? await loadCapture(o.capture) : o.capture;
  const codec = new PacketCodec(header.packet);
  const subjects = new Subjects(o.prefix);
  const envelopes = entries.filter((e) => e.kind === 'envelope');
  const nid = o.nid ?? envelopes.find((e) => e.direction === 'in' && e.nid)?.nid;
  if (!nid)
    throw new Error('the capture holds no gate → node envelope to replay (record one with duet capture --node)');
  // Only what gates sent is fed: node-to-node deliveries (gid "") are ones the replayed node's own actor and
  // service calls produce again.
  const fromGate = (e: CaptureEntry): boolean =>
    e.gid !== '' && e.subject.startsWith(`${subjects.prefix}.node.${nid}.`);
  const steps = envelopes.filter((e) => e.nid === nid && (e.direction === 'out' || fromGate(e)));

  const expected = new Map<string, NodeOp[]>();
  const produced: NodeOp[] = [];
  const { bus, locator, registry } = adapters;
  const node = new Node({ ...o.node, id: nid, bus, locator, registry, codec, prefix: subjects.prefix });
  const waiters = new Set<{ n: number; resolve: () => void }>();
  const gateSubs = [bus.subscribe(subjects.gateOp('*')), bus.subscribe(subjects.gatesOp())];
  const standIn = gateSubs.map(async (sub) => {
    for await (const m of sub) {
      const ops = decodeGateOps(m.data);
      if (!ops) continue;
      const gid = m.subject === subjects.gatesOp() ? '*' : (m.subject.split('.').at(-2) ?? '');
      produced.push(...nodeOpsOf(ops, gid, codec));
      const results = ops.ops
        .filter((op) => op.id !== 0)
        .map((op) => ({ id: op.id, code: ResultCode.OK, message: '', total: 0, online: true, ip: '', gid }));
      if (results.length > 0 && ops.reply) bus.publish(ops.reply, ResultsCodec.encode({ results }));
      for (const w of waiters) if (produced.length >= w.n) w.resolve();
    }
  });
  const waitFor = (n: number, ms: number): Promise<void> => {
    if (produced.length >= n) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { n, resolve: () => done() };
      const timer = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(w);
        resolve();
      };
      waiters.add(w);
    });
  };
  const stepMs = o.stepTimeoutMs ?? DEFAULT_NODE_REPLAY_STEP_TIMEOUT_MS;
  let fed = 0;
  let recorded = 0;
  try {
    await bus.flush();
    await o.app.register(node);
    await node.start();
    for (const e of steps) {
      if (e.direction === 'out') {
        const ops = decodeGateOps(e.data);
        if (!ops) continue;
        const gid = e.gid || '*';
        const list = expected.get(gid) ?? [];
        expected.set(gid, list);
        const add = nodeOpsOf(ops, gid, codec);
        list.push(...add);
        recorded += add.length;
        continue;
      }
      await waitFor(recorded, stepMs);
      bus.publish(e.subject, e.data);
      fed++;
    }
    await waitFor(recorded, stepMs);
    await new Promise((r) => setTimeout(r, o.quietMs ?? DEFAULT_NODE_REPLAY_QUIET_MS));
  } finally {
    await node.stop();
    await o.app.stop?.();
    await Promise.all(gateSubs.map((s) => s.drain()));
    await Promise.all(standIn);
  }
  const diffs: NodeReplayDiff[] = [];
  const gids = new Set([...expected.keys(), ...produced.map((p) => p.gid)]);
  for (const gid of gids) {
    const actual = produced.filter((p) => p.gid === gid);
    diffs.push(...compareNodeOps(gid, expected.get(gid) ?? [], actual));
  }
  return { ok: diffs.length === 0, fed, compared: recorded, produced, diffs };
}

/** A report as text: one summary line, then one line per difference. */
export function formatNodeReplayReport(r: NodeReplayReport): string {
  const head = r.ok
    ? `node replay ok: ${r.fed} envelopes fed, ${r.compared} ops match`
    : `node replay FAILED: ${r.diffs.length} differences (${r.fed} envelopes fed, ${r.compared} ops recorded)`;
  return [head, ...r.diffs.map((d) => `  ${d.message}`)].join('\n');
}
