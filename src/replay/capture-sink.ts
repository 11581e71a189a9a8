/**
 * Where a gate reports client traffic for capture (proto/capture.proto files; src/replay). `enabled` is read before
 * anything is built, so a disabled sink costs nothing per frame.
 */
export type CaptureDirection = 'in' | 'out';

export interface CaptureSink {
  readonly enabled: boolean;
  /** One client packet as it crossed the socket (the view is valid only during the call: copy it). */
  packet(direction: CaptureDirection, gid: string, cid: number, uid: number, bytes: Uint8Array): void;
  /** A connection closed, with the close code the socket reported (replay compares it). */
  closed?(gid: string, cid: number, uid: number, code: number, reason: string): void;
}

export const nullCaptureSink: CaptureSink = { enabled: false, packet: () => {} };
