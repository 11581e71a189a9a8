/** Bus subjects, one builder per row of DESIGN.md's table. Tokens are validated so ids cannot inject wildcards. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export function checkToken(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new Error(`${what} must match ${TOKEN}, got ${JSON.stringify(value)}`);
  return value;
}

export class Subjects {
  readonly prefix: string;
  constructor(prefix = 'duet') {
    for (const part of prefix.split('.')) checkToken(part, 'bus prefix');
    this.prefix = prefix;
  }
  nodeDeliver(nid: string): string {
    return `${this.prefix}.node.${nid}.deliver`;
  }
  nodeEvent(nid: string): string {
    return `${this.prefix}.node.${nid}.event`;
  }
  /** One subscription per node: deliveries and events in arrival order. */
  nodeAll(nid: string): string {
    return `${this.prefix}.node.${nid}.*`;
  }
  /** A node's liveness beat (src/node/liveness-beat.ts); gates watch nodesAlive(). */
  nodeAlive(nid: string): string {
    return `${this.prefix}.alive.${nid}`;
  }
  nodesAlive(): string {
    return `${this.prefix}.alive.*`;
  }
  gateOp(gid: string): string {
    return `${this.prefix}.gate.${gid}.op`;
  }
  gateTakeover(gid: string): string {
    return `${this.prefix}.gate.${gid}.takeover`;
  }
  gatesOp(): string {
    return `${this.prefix}.gates.op`;
  }
  reply(instanceId: string): string {
    return `${this.prefix}.reply.${instanceId}`;
  }
  trace(gid: string): string {
    return `${this.prefix}.trace.session.${gid}`;
  }
  traceAll(): string {
    return `${this.prefix}.trace.session.*`;
  }
}
