import { readFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { ConfigError } from '../errors.js';

/** The key and certificate a TLS listener serves, read once at listen; a missing file names its config key. */
export async function readTlsFiles(
  tls: { keyFile?: string; certFile?: string } | undefined,
  optionPrefix: string,
): Promise<{ key: Buffer; cert: Buffer }> {
  const { keyFile = '', certFile = '' } = tls ?? {};
  const read = async (path: string, key: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new ConfigError(`${optionPrefix}.${key}`, path, `cannot read ${key} "${path}"`, { cause: err });
    }
  };
  return { key: await read(keyFile, 'keyFile'), cert: await read(certFile, 'certFile') };
}

/**
 * The first half of a transport's close: stop accepting and terminate every open connection. Returns the two
 * waits separately, because a transport may have sockets of its own to end (keep-alive HTTP, not yet upgraded)
 * before either can settle.
 */
export function stopListener(
  server: Server | undefined,
  connections: Iterable<{ terminate(): void; readonly ended: Promise<void> }>,
): { serverClosed: Promise<void>; ended: Promise<unknown> } {
  const serverClosed =
    server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
  const ended = [...connections].map((c) => {
    c.terminate();
    return c.ended;
  });
  return { serverClosed, ended: Promise.all(ended) };
}
