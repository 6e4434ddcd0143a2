/**
 * detour as the image runs it: the bundles of `npm run build` (scripts/build.ts), the
 * proxy started as `detour-proxy proxy ...` with the Node flags and env the webhook
 * injects (webhook/sidecar-containers.ts), pinned to the proxy CPU.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundles } from '../../build.js';
import { PLANE_LABEL } from '../../../shared/labels.js';
import {
  PROXY_COMMAND,
  PROXY_MALLOC_ARENA_MAX,
  PROXY_NODE_OPTIONS,
} from '../../../webhook/sidecar-containers.js';
import type { KubeObject } from '../../../test/support/api-server/resources.js';
import { loopbackProxyFlags } from '../../../test/support/cli.js';
import { launch, PROXY_CPU } from './processes.js';

export const BENCH_HOST = 'bench.detour.test';

/** Builds the bundles into DIR/dist; returns the size of dist/ in MB (the image payload). */
export async function buildDetour(dir: string): Promise<number> {
  const dist = join(dir, 'dist');
  await buildBundles(dist);
  let bytes = 0;
  for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return bytes / 2 ** 20;
}

/**
 * The env the webhook gives an injected proxy (the downward API's values made up).
 * BENCH_PROXY_NODE_OPTIONS replaces the Node flags, to measure what another set costs.
 */
export const INJECTED_ENV: NodeJS.ProcessEnv = {
  NODE_OPTIONS: process.env.BENCH_PROXY_NODE_OPTIONS ?? PROXY_NODE_OPTIONS,
  MALLOC_ARENA_MAX: process.env.BENCH_PROXY_MALLOC_ARENA_MAX ?? PROXY_MALLOC_ARENA_MAX,
  POD_NAME: 'bench-0',
  POD_NAMESPACE: 'bench',
  POD_IP: '127.0.0.1',
};

export interface DetourPorts {
  listen: number;
  admin: number;
}

/**
 * `detour-proxy proxy --source SOURCE` with every listener on loopback (DNS on a free
 * port); `wrapper` runs before taskset (the kube row's mount namespace).
 */
export function startDetour(
  dir: string,
  name: string,
  source: string,
  ports: DetourPorts,
  options: { extraArgs?: string[]; env?: NodeJS.ProcessEnv; wrapper?: string[] } = {},
): ChildProcess {
  return launch(
    PROXY_CPU,
    process.execPath,
    [
      join(dir, 'dist', `${PROXY_COMMAND}.js`),
      'proxy',
      '--source',
      source,
      ...loopbackProxyFlags(ports.listen, ports.admin),
      ...(options.extraArgs ?? []),
    ],
    join(dir, `${name}.out`),
    { ...INJECTED_ENV, KUBERNETES_SERVICE_HOST: '', ...options.env },
    options.wrapper,
  );
}

/**
 * One RouteTable of `count` routes; the first is the benchmark's, on `firstPort`, with
 * `firstPolicy` inline when given.
 */
export function routeTable(count: number, firstPort: number, firstPolicy?: object): KubeObject {
  const routes = [];
  for (let i = 0; i < count; i++) {
    routes.push({
      host: i === 0 ? BENCH_HOST : `app-${i}.bench`,
      path: i === 0 ? '/' : `/api/v${i % 7}`,
      claimedAt: '2024-01-01T00:00:00Z',
      endpoints: [
        { ip: '127.0.0.1', port: i === 0 ? firstPort : 8000 + (i % 1000), pod: `pod-${i}` },
      ],
      ...(i === 0 && firstPolicy !== undefined ? { policy: firstPolicy } : {}),
    });
  }
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'RouteTable',
    metadata: { name: 'detour-private', namespace: 'bench', labels: { [PLANE_LABEL]: 'private' } },
    spec: { plane: 'private', routes },
  };
}

/** The one-route table as a file for `--source file:` (JSON is YAML). */
export function routeFile(dir: string, name: string, firstPort: number, policy?: object): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(routeTable(1, firstPort, policy)));
  return path;
}
