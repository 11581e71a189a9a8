import { Batcher, batchMessage } from '../bus/batcher.js';
import { type NodeItem, type Result, ResultsCodec } from '../bus/envelope.js';
import { lostOnBus } from '../bus/payload-limit.js';
import { Subjects } from '../bus/subjects.js';
import { DEFAULT_BUS_PREFIX, DEFAULT_NODE_LOST } from '../config/schema.js';
import type { ErrorReporter } from '../errors.js';
import { silentLog } from '../log/types.js';
import type { ServiceInstance } from '../registry/registry.js';
import { nodeBatchEncoder } from './dispatcher.js';
import type { GateOptions } from './gate.js';
import { closeStranded, NodeLiveness } from './node-liveness.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

/**
 * The gate's outbound bus side: the batches to nodes and the results, whose lost publishes are reported (and whose
 * stranded clients are closed with 4010), and the node liveness watch that decides which registered nodes are
 * routed to. Kept out of gate.ts, which only wires it.
 */
export class GateWire {
  readonly out: Batcher<NodeItem>;
  readonly results: Batcher<Result>;
  readonly liveness: NodeLiveness;
  #list: readonly ServiceInstance[] = [];
  readonly #onNodes: (list: readonly ServiceInstance[]) => void;

  /** `onNodes`: the nodes to route to changed (the registry's list, less dead nodes, plus beating ones it lost). */
  constructor(
    o: GateOptions,
    gid: string,
    sessions: SessionTable,
    report: ErrorReporter,
    onNodes: (list: readonly ServiceInstance[]) => void,
  ) {
    const subjects = new Subjects(o.prefix ?? DEFAULT_BUS_PREFIX);
    this.#onNodes = onNodes;
    this.out = new Batcher<NodeItem>({
      bus: o.bus,
      encode: nodeBatchEncoder(gid, subjects),
      onDropped: (items, nid, err) => {
        report(lostOnBus(err, items.length, `items to node ${nid}`), 'bus publish: node batch');
        // The clients of the lost requests would wait for ever: they see 4010 instead.
        const stranded = items.flatMap((i) => (i.deliver ? (sessions.byCid(i.deliver.cid) ?? []) : []));
        closeStranded(new Set(stranded), `request not sent to node ${nid}: ${err.message}`);
      },
    });
    this.results = new Batcher<Result>({
      bus: o.bus,
      encode: (results, reply) => batchMessage(reply, { results }, ResultsCodec),
      onDropped: (items, reply, err) =>
        report(lostOnBus(err, items.length, `results to ${reply}`), 'bus publish: results'),
    });
    this.liveness = new NodeLiveness({
      bus: o.bus,
      subject: subjects.nodesAlive(),
      log: (o.log ?? silentLog).child({ gate: gid }),
      reportError: report,
      onChange: () => this.setNodes(this.#list),
      action: o.nodeLost ?? DEFAULT_NODE_LOST,
    });
  }

  /** Hot path (the dispatcher): `s` sent a request to `nid`. */
  readonly sent = (nid: string, s: Session): void => this.liveness.sent(nid, s);

  /** A node list from the registry. */
  setNodes(list: readonly ServiceInstance[]): void {
    this.#list = list;
    this.#onNodes(this.liveness.filter(list));
  }

  start(): void {
    this.liveness.start();
  }

  stop(): Promise<void> {
    return this.liveness.stop();
  }
}
