/**
 * The runtime's floor (issue 13's title: "near the runtime's floor"): node-relay-main.ts,
 * Node's HTTP server and an undici Pool with no detour code in between, bundled as
 * `npm run build` bundles the proxy and started with the env the webhook injects, pinned
 * to the proxy CPU. Its row is measured exactly as detour's. With `client: 'node'`,
 * node-relay-http-main.ts: the same relay on Node's own HTTP client.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from '../../build.js';
import { INJECTED_ENV } from './detour.js';
import { launch, PROXY_CPU } from './processes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function startNodeRelay(
  dir: string,
  port: number,
  upstreamPort: number,
  client: 'undici' | 'node' = 'undici',
): Promise<ChildProcess> {
  const name = client === 'undici' ? 'node-relay' : 'node-relay-http';
  const out = join(dir, `${name}.mjs`);
  await build({
    ...BUNDLE_OPTIONS,
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, `scripts/bench/proxy/${name}-main.ts`)],
    outfile: out,
  });
  return launch(
    PROXY_CPU,
    process.execPath,
    [out, String(port), String(upstreamPort)],
    join(dir, `${name}.out`),
    INJECTED_ENV,
  );
}
