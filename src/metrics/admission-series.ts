/** The login admission's series (src/gate/login-admission.ts), summed over a process's gates at scrape time. */

export interface AdmissionView {
  readonly inFlight: number;
  readonly holding: number;
  readonly held: number;
  readonly expired: number;
}

export const ADMISSION_SERIES: readonly [string, string, 'gauge' | 'counter', (a: AdmissionView) => number][] = [
  [
    'login_admission_in_flight',
    'Requests of sessions not yet bound, forwarded and unanswered.',
    'gauge',
    (a) => a.inFlight,
  ],
  ['login_admission_holding', 'Unbound sessions whose reads a login storm holds now.', 'gauge', (a) => a.holding],
  ['login_admission_held_total', 'Unbound sessions whose reads a login storm held.', 'counter', (a) => a.held],
  ['login_admission_expired_total', 'Unbound requests unanswered within callTimeout.', 'counter', (a) => a.expired],
];

export function gateAdmission(
  gates: Iterable<{ admission?(): AdmissionView }>,
  f: (a: AdmissionView) => number,
): number {
  let n = 0;
  for (const g of gates) {
    const a = g.admission?.();
    if (a !== undefined) n += f(a);
  }
  return n;
}
