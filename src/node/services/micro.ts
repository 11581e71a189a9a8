/**
 * NATS service discovery (the "micro" protocol of nats.js `@nats-io/services` and the `nats micro` CLI), answered
 * over the Bus so duet services show up in NATS's own tooling: `$SRV.{PING|INFO|STATS}[.{service}[.{id}]]`, each
 * instance answering with JSON. The id of an instance is its node id.
 */

export interface EndpointStats {
  requests: number;
  errors: number;
  lastError: string;
  /** Total processing time, ns. */
  processingNs: number;
}

export interface MicroService {
  name: string;
  methods: readonly string[];
  version: string;
  description: string;
}

export const MICRO_VERBS = ['PING', 'INFO', 'STATS'] as const;
export type MicroVerb = (typeof MICRO_VERBS)[number];

/** The subjects one instance of `name` answers on. */
export function microSubjects(name: string, id: string): { verb: MicroVerb; subject: string }[] {
  return MICRO_VERBS.flatMap((verb) =>
    [`$SRV.${verb}`, `$SRV.${verb}.${name}`, `$SRV.${verb}.${name}.${id}`].map((subject) => ({ verb, subject })),
  );
}

export interface MicroContext {
  id: string;
  prefix: string;
  started: Date;
  stats(service: string, method: string): EndpointStats | undefined;
}

/** The JSON an instance answers `verb` with. */
export function microResponse(verb: MicroVerb, s: MicroService, c: MicroContext): string {
  const base = { name: s.name, id: c.id, version: s.version, metadata: {} };
  const endpoint = (m: string) => ({
    name: m,
    subject: `${c.prefix}.svc.${s.name}.${m}`,
    queue_group: `${c.prefix}.svc.${s.name}`,
  });
  if (verb === 'PING') return JSON.stringify({ ...base, type: 'io.nats.micro.v1.ping_response' });
  if (verb === 'INFO')
    return JSON.stringify({
      ...base,
      type: 'io.nats.micro.v1.info_response',
      description: s.description,
      endpoints: s.methods.map((m) => ({ ...endpoint(m), metadata: null })),
    });
  return JSON.stringify({
    ...base,
    type: 'io.nats.micro.v1.stats_response',
    started: c.started.toISOString(),
    endpoints: s.methods.map((m) => {
      const st = c.stats(s.name, m) ?? { requests: 0, errors: 0, lastError: '', processingNs: 0 };
      return {
        ...endpoint(m),
        num_requests: st.requests,
        num_errors: st.errors,
        last_error: st.lastError,
        processing_time: st.processingNs,
        average_processing_time: st.requests > 0 ? Math.round(st.processingNs / st.requests) : 0,
      };
    }),
  });
}
