/** Bus subjects, one builder per row of docs/architecture.md, Bus subjects. Tokens are validated so ids cannot inject wildcards. */
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
  /**
   * On-demand trace leases (`duet trace`): every gate listens; a JSON `{lease, ttlMs, uid, cid, gate, sample,
   * reply}` asks it to publish matching transitions on trace(gid) until the lease lapses. Admin tools publish here;
   * gates and nodes must not.
   */
  traceControl(): string {
    return `${this.prefix}.trace.control`;
  }
  /** Admin questions for every gate and node (`duet status`, `locate`, `kick`). Admin tools alone publish here. */
  adminAll(): string {
    return `${this.prefix}.admin`;
  }
  /** One instance's admin subject (`duet sessions`, `duet drain`); answered by each gate and node. */
  admin(id: string): string {
    return `${this.prefix}.admin.${checkToken(id, 'instance id')}`;
  }
  /** Answers to control and admin questions go to `{prefix}.admin.reply.{token}`: gates and nodes publish there. */
  adminReplyPrefix(): string {
    return `${this.prefix}.admin.reply`;
  }
}
