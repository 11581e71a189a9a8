/** `host:port` listen addresses as due writes them: ":3553" (every interface), "127.0.0.1:9100", "[::1]:0". */
export interface ListenAddr {
  /** Empty = every interface. IPv6 without brackets. */
  host: string;
  port: number;
}

const ADDR = /^(?:\[([0-9a-fA-F:.%\w]+)\]|([^\s:[\]]*)):(\d{1,5})$/;

/** Parses a listen address; undefined when it is not `host:port` with a port from 0 to 65535. */
export function parseListenAddr(addr: string): ListenAddr | undefined {
  const m = ADDR.exec(addr.trim());
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}
