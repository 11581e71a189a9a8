#!/usr/bin/env -S node --import tsx
/**
 * Micro-benchmark of the bus envelopes' hot path: decode and encode of a NodeBatch and a GateOps of 8 items, as a
 * busy gate and node exchange them. Prints CPU ns per operation (median of 5 rounds); compare ratios between commits
 * on the same machine, not absolute figures. Usage: npm run bench:envelope (ENVELOPE_BENCH_N sets the iterations)
 */
import { type GateOps, GateOpsCodec, type NodeBatch, NodeBatchCodec } from '../src/bus/envelope.js';

const packet = new Uint8Array(40);
const batch: NodeBatch = {
  gid: 'gate-1',
  items: Array.from({ length: 8 }, (_, i) =>
    i % 3 === 2
      ? { trigger: { event: 1, cid: 1000 + i, uid: 5000 + i } }
      : { deliver: { cid: 1000 + i, uid: 123_456 + i, packet } },
  ),
};
const ops: GateOps = {
  nid: 'node-1',
  reply: 'duet.reply.node-1',
  ops: Array.from({ length: 8 }, (_, i) => ({ id: i, push: { kind: 1, target: 1000 + i, packet, disconnect: false } })),
};
const batchBytes = NodeBatchCodec.encode(batch);
const opsBytes = GateOpsCodec.encode(ops);

const N = Number(process.env.ENVELOPE_BENCH_N ?? 200_000);

function nsPerOp(f: () => unknown, n = N): number {
  for (let i = 0; i < n / 4; i++) f();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    // CPU time, not wall time: on a shared machine the wall clock also counts other processes' turns.
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) f();
    const used = process.cpuUsage(t);
    rounds.push(((used.user + used.system) * 1000) / n);
  }
  return rounds.sort((a, b) => a - b)[2] as number;
}

const cases: [string, () => unknown][] = [
  ['decode NodeBatch (8 items)', () => NodeBatchCodec.decode(batchBytes)],
  ['decode GateOps (8 pushes)', () => GateOpsCodec.decode(opsBytes)],
  ['encode NodeBatch (8 items)', () => NodeBatchCodec.encode(batch)],
  ['encode GateOps (8 pushes)', () => GateOpsCodec.encode(ops)],
];
for (const [name, f] of cases) console.log(`${name.padEnd(28)} ${nsPerOp(f).toFixed(0).padStart(6)} ns/op`);
