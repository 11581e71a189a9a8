import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const found = new Map<string, string>();

/**
 * A server binary for the test harnesses: `$<envVar>`, then `name` on $PATH, then the Debian package's path, then
 * /usr/local/bin. Throws naming the apt package when none exists.
 */
export function serverBin(name: string, envVar: string, debianPath: string): string {
  const cached = found.get(name);
  if (cached !== undefined) return cached;
  const candidates = [
    process.env[envVar],
    ...(process.env.PATH ?? '').split(delimiter).map((d) => (d ? join(d, name) : undefined)),
    debianPath,
    `/usr/local/bin/${name}`,
  ];
  for (const c of candidates) {
    if (c && existsSync(c)) {
      found.set(name, c);
      return c;
    }
  }
  throw new Error(`${name} not found: install it (apt-get install ${name}) or set ${envVar}`);
}
