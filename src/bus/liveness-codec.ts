/** The node liveness beat on the bus: 4 bytes, the sender's beat interval in ms (0 = leaving). */
export function encodeBeat(intervalMs: number): Uint8Array {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, intervalMs);
  return data;
}

/** The interval a beat carries (0 = leaving); undefined for a message that is not a beat. */
export function readBeat(data: Uint8Array): number | undefined {
  if (data.byteLength !== 4) return undefined;
  return new DataView(data.buffer, data.byteOffset, 4).getUint32(0);
}
