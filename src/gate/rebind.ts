import { CloseCode } from '../errors.js';
import type { Locator } from '../locate/locator.js';
import { Reasserter } from '../locate/reassert.js';
import type { Log } from '../log/types.js';
import type { Session } from './session.js';
import type { SessionTable } from './sessions.js';

/**
 * The gate's part of re-asserting bindings after the locator reconnects: every bound session (suspended ones
 * included) claims its uid again. A uid another gate bound meanwhile is a newer login, so this gate's session is
 * displaced (4003) just as an ordinary second login would have done.
 */
export function gateRebinder(d: {
  gid: string;
  sessions: SessionTable;
  locator: Locator;
  log: Log;
}): Reasserter<Session> {
  return new Reasserter<Session>({
    locator: d.locator,
    what: 'gate bindings',
    log: d.log,
    held: () => d.sessions.bound(),
    claim: async (s) => {
      const uid = s.uid;
      if (d.sessions.byUid(uid) !== s) return 'kept';
      const owner = await d.locator.claimGate(uid, d.gid);
      if (owner === d.gid) return 'kept';
      if (d.sessions.byUid(uid) === s) {
        s.send({ type: 'session.displaced', code: CloseCode.DISPLACED, reason: `uid bound on gate ${owner}` });
      }
      return 'lost';
    },
  });
}
