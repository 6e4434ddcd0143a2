import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * detour's own version, from its package.json: `shared/` in a source checkout and
 * `dist/shared/` in the image both sit under the directory that holds it (the
 * Dockerfile copies package.json beside dist/), so look up a few levels, no further.
 */
export function detourVersion(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 4; level++) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'detour' && typeof pkg.version === 'string') {
        cached = pkg.version;
        return cached;
      }
    }
    dir = path.dirname(dir);
  }
  cached = 'unknown';
  return cached;
}
