import { CloseCode } from '../errors.js';
import type { PreparedFrame } from '../network/prepared-frame.js';
import type { PacketCodec } from '../packet/codec.js';
import type { CaptureSink } from '../replay/capture-sink.js';
import type { GateCounters } from './counters.js';
import type { LoginAdmission } from './login-admission.js';
import type { Session } from './session.js';

export interface PushWriterDeps {
  gid: string;
  codec: PacketCodec;
  counters: GateCounters;
  capture: CaptureSink;
  admission: LoginAdmission;
}

/**
 * Writes what nodes send to a session's socket: the lane (push or response, by seq), the counters, capture, and the
 * graceful close a push may ask for. Every feature that holds or replays pushes (resume) writes through this.
 */
export class PushWriter {
  readonly #d: PushWriterDeps;

  constructor(d: PushWriterDeps) {
    this.#d = d;
  }

  isPush(packet: Uint8Array): boolean {
    return this.#d.codec.seqOf(packet) === 0;
  }

  /** Writes one packet; false when the socket is gone or its write budget is exceeded (slow consumer). */
  write(s: Session, packet: Uint8Array, isPush = this.isPush(packet), frame?: PreparedFrame): boolean {
    const d = this.#d;
    const r = s.conn.send(frame ?? packet, isPush ? 'push' : 'response');
    if (r === 'overflow') d.counters.slowConsumers++;
    if (r === 'closed' || r === 'overflow') return false;
    if (!isPush && !s.isEstablished) {
      s.isEstablished = true;
      d.admission.answered(s);
    }
    d.counters.framesOut++;
    d.counters.bytesOut += packet.length;
    if (d.capture.enabled) d.capture.packet('out', d.gid, s.cid, s.uid, packet);
    return true;
  }

  /** Closes the session gracefully after a push that asked for it. due ignores the flag on multicast (v2.5.8 bug). */
  closeAfter(s: Session): void {
    s.send({ type: 'session.kicked', force: false, code: CloseCode.NORMAL, reason: 'disconnect after push' });
  }

  /** write, then the close when asked: due's push. */
  deliver(s: Session, packet: Uint8Array, disconnect: boolean, frame?: PreparedFrame): boolean {
    const ok = this.write(s, packet, this.isPush(packet), frame);
    if (disconnect) this.closeAfter(s);
    return ok;
  }
}
