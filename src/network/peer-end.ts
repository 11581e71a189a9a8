/**
 * Who answers a peer's FIN on an upgraded socket (issue 20 case 8).
 *
 * ws answers it itself (its socketOnEnd: `socket.end()`): a shutdown whose completion comes one event-loop pass
 * later, then the destroy, then the close callback; and ws's close handler ends its frame receiver a second time,
 * which builds and drops an ERR_STREAM_ALREADY_FINISHED error, stack trace included. When 15,000 clients leave at
 * once (a load balancer restart, a fleet losing its network) all of that ran in one or two turns of the loop:
 * 700-900 ms in which no other session was served. The transport takes the FIN over instead and destroys the socket
 * from its close queue, a time slice at a time, so other sessions' frames are read between slices.
 */
import type { Duplex } from 'node:stream';

export type EndListener = (this: Duplex) => void;

/**
 * The 'end' listeners an upgrade added (ws registers exactly one), found by comparing with the count before it.
 * Reading them this way rather than by function name survives minified or renamed builds of ws.
 */
export function endListenersAddedSince(socket: Duplex, countBefore: number): EndListener[] {
  return socket.listeners('end').slice(countBefore) as EndListener[];
}

/**
 * Replaces ws's own 'end' listener with `onEnd`. Returns false (and changes nothing) unless the upgrade added
 * exactly one listener: a ws release that handles the FIN differently keeps its own behaviour rather than lose it.
 */
export function takeOverPeerEnd(socket: Duplex, added: readonly EndListener[], onEnd: EndListener): boolean {
  const [wsOnEnd] = added;
  if (added.length !== 1 || wsOnEnd === undefined) return false;
  socket.off('end', wsOnEnd);
  socket.on('end', onEnd);
  return true;
}
