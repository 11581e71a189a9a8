/** Why a client frame was dropped (docs/protocol.md, Errors), counted per reason. */
export type DropReason =
  | 'unknown_route'
  | 'internal_route'
  | 'unbound_stateful'
  | 'unbound_authorized'
  | 'no_node'
  | 'not_located'
  | 'locator_error'
  | 'not_active';

export type MalformedReason = 'short' | 'size_mismatch' | 'too_large' | 'other';

/** Plain counters the gate bumps on the hot path; the metrics module reads them when scraped. */
export class GateCounters {
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  heartbeatsIn = 0;
  forwarded = 0;
  readonly drops: Record<DropReason, number> = {
    unknown_route: 0,
    internal_route: 0,
    unbound_stateful: 0,
    unbound_authorized: 0,
    no_node: 0,
    not_located: 0,
    locator_error: 0,
    not_active: 0,
  };
  readonly malformed: Record<MalformedReason, number> = { short: 0, size_mismatch: 0, too_large: 0, other: 0 };
  /** Pushes for sessions that were gone by the time they arrived. */
  pushMissed = 0;
  slowConsumers = 0;
  rateLimited = 0;
  /** Stateful frames sent to a live node of the group because the user's node had left. */
  rerouted = 0;
  opErrors = 0;
  /** Control operations dropped for a missing or bad signature (bus.opsSecret set). */
  forgedOps = 0;
}
