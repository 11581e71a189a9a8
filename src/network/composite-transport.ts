/**
 * Several listeners behind one Transport, so a gate serves WebSocket and TCP clients at once without knowing it:
 * every child gets the same handler; the first child's address is the one listen() reports. Connection ids stay
 * unique because each child is given its own id range (see TcpTransportOptions.firstCid).
 */
import type { ConnectionHandler, Transport, TransportStats } from './transport.js';

export class CompositeTransport implements Transport {
  readonly #children: readonly Transport[];

  constructor(children: readonly Transport[]) {
    if (children.length === 0) throw new RangeError('a composite transport needs at least one transport');
    this.#children = children;
  }

  get children(): readonly Transport[] {
    return this.#children;
  }

  /** Listens on every child; if one fails, the ones already listening are closed and the error is thrown. */
  async listen(handler: ConnectionHandler): Promise<{ host: string; port: number }> {
    const results = await Promise.allSettled(this.#children.map((c) => c.listen(handler)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    const first = results[0] as PromiseFulfilledResult<{ host: string; port: number }>;
    return first.value;
  }

  refuseNew(): void {
    for (const c of this.#children) c.refuseNew();
  }

  async close(): Promise<void> {
    await Promise.all(this.#children.map((c) => c.close()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Connections summed, refusals summed per reason, other numeric fields summed. */
  get stats(): TransportStats {
    const out: TransportStats & Record<string, unknown> = { connections: 0, refused: {} };
    for (const c of this.#children) {
      const s = c.stats as TransportStats & Record<string, unknown>;
      out.connections += s.connections;
      for (const [k, v] of Object.entries(s.refused)) out.refused[k] = (out.refused[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s)) {
        if (k === 'connections' || k === 'refused' || typeof v !== 'number') continue;
        out[k] = (typeof out[k] === 'number' ? out[k] : 0) + v;
      }
    }
    return out;
  }
}
