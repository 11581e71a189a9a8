/** One session state transition (docs/architecture.md). */
export interface TransitionRecord {
  ts: number;
  gate: string;
  cid: number;
  uid: number;
  from: string;
  to: string;
  event: string;
  reason: string;
}

/**
 * Where transition records go: a test sink, the bus stream (trace issue), or nothing. `enabled` is read before a
 * record is built, so a disabled sink costs no allocation.
 */
export interface TraceSink {
  readonly enabled: boolean;
  record(t: TransitionRecord): void;
}

export const nullTraceSink: TraceSink = { enabled: false, record: () => {} };

/** Keeps records in memory (tests, `duet trace` local mode). */
export class MemoryTraceSink implements TraceSink {
  readonly enabled = true;
  readonly records: TransitionRecord[] = [];
  #listeners = new Set<(t: TransitionRecord) => void>();
  record(t: TransitionRecord): void {
    this.records.push(t);
    for (const l of this.#listeners) l(t);
  }
  on(listener: (t: TransitionRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** Fans records out to several sinks; enabled when any is. */
export function teeTraceSinks(...sinks: TraceSink[]): TraceSink {
  const live = sinks.filter((s) => s !== nullTraceSink);
  if (live.length === 0) return nullTraceSink;
  if (live.length === 1) return live[0] as TraceSink;
  return {
    get enabled() {
      return live.some((s) => s.enabled);
    },
    record: (t) => {
      for (const s of live) if (s.enabled) s.record(t);
    },
  };
}
