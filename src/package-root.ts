import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding duet's package.json: the repository root when running the sources (src/), the installed
 * package's folder when running the build (dist/src/). Files that ship beside the code (config/, proto/, web/) are
 * found from here, so a path does not depend on how deep the running module sits.
 */
function findPackageRoot(): URL {
  let dir = new URL('./', import.meta.url);
  for (let i = 0; i < 4; i++) {
    if (existsSync(new URL('package.json', dir))) return dir;
    dir = new URL('../', dir);
  }
  throw new Error(`duet: no package.json above ${fileURLToPath(import.meta.url)}`);
}

export const PACKAGE_ROOT_URL: URL = findPackageRoot();

/** A file or folder of the package, e.g. packageUrl('proto/demo.proto'). */
export function packageUrl(relative: string): URL {
  return new URL(relative, PACKAGE_ROOT_URL);
}
