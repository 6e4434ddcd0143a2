/**
 * `npm run bench -- footprint`: what each part the proxy loads costs in RSS, so that a
 * dependency's weight is measured, not guessed (issue 13). Each case is a tiny program
 * bundled exactly as `npm run build` bundles the proxy (scripts/build/lean-plugins.ts),
 * a `node:http` server on loopback plus the part under test doing one real thing
 * (one request through undici's Pool, one table parsed, one scrape rendered), run with
 * the injected NODE_OPTIONS and MALLOC_ARENA_MAX; its RSS and anonymous RSS are read
 * from /proc a second later and printed against the bare server's.
 *
 * The parts overlap (undici and prom-client both load `node:perf_hooks`), so the
 * increments do not add up to the proxy's; the proxy's own idle figure is the last row.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from '../build.js';
import { BENCH_HOST, buildDetour, INJECTED_ENV, routeFile, startDetour } from './proxy/detour.js';
import { anonMb, assertPortsFree, pidsOf, rssMb, stop, waitHttp } from './proxy/processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);

/** Each case's code runs after `port` (the local server's) is known; top-level await works. */
const CASES: Record<string, string> = {
  'node:http server (the floor)': '',
  'undici Pool, one request (llhttp WebAssembly)': `
    import { Pool } from 'undici';
    const pool = new Pool(\`http://127.0.0.1:\${port}\`);
    const answer = await pool.request({ path: '/', method: 'GET' });
    await answer.body.text();`,
  'prom-client, default metrics, one scrape': `
    import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    new Counter({ name: 'c', help: 'c', registers: [registry] }).inc();
    await registry.metrics();`,
  'pino, one line': `
    import pino from 'pino';
    pino({}, process.stderr).info('x');`,
  'RouteTable schema (zod/mini), one table parsed': `
    import { parseRouteTable } from '${ROOT}shared/route-table-schema.js';
    parseRouteTable({ apiVersion: 'detour.dev/v1alpha1', kind: 'RouteTable',
      metadata: { name: 't', namespace: 'n' }, spec: { plane: 'private', routes: [] } });`,
  'zod classic, one object parsed (not in the proxy)': `
    import { z } from 'zod';
    z.object({ a: z.string() }).parse({ a: 'x' });`,
  'yaml, one document (file source only)': `
    import { parse } from 'yaml';
    parse('a: 1');`,
  'node:http2 server (loaded by the first h2c connection)': `
    process.getBuiltinModule('node:http2').createServer();`,
};

const PRELUDE = `const http = process.getBuiltinModule('node:http');
const server = http.createServer((q, s) => s.end('ok'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;`;

const REPORT = `setTimeout(() => {
  const status = process.getBuiltinModule('node:fs').readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(new RegExp(key + ':\\\\s+(\\\\d+)').exec(status)[1]);
  process.stdout.write(JSON.stringify({ rss: kb('VmRSS'), anon: kb('RssAnon') }));
  process.exit(0);
}, 1000);`;

interface Footprint {
  rss: number;
  anon: number;
}

async function measure(dir: string, name: string, code: string): Promise<Footprint> {
  const file = join(dir, `${name.replace(/\W+/g, '-')}.ts`);
  // Imports first (ES modules hoist them anyway), then the server, the case, the report.
  const imports = code.match(/^\s*import [^;]+;/gm) ?? [];
  const body = code.replace(/^\s*import [^;]+;/gm, '');
  writeFileSync(file, [...imports, PRELUDE, body, REPORT].join('\n'));
  const out = file.replace(/\.ts$/, '.mjs');
  await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [file],
    outfile: out,
    nodePaths: [join(ROOT, 'node_modules')],
    logLevel: 'error',
  });
  const { stdout } = await exec(process.execPath, [out], {
    env: { PATH: process.env.PATH, ...INJECTED_ENV },
  });
  return JSON.parse(stdout) as Footprint;
}

/** Ports of the proxy row (bench/proxy.ts's are 28080-28099). */
const PROXY_PORTS = { listen: 28180, admin: 28181 };

/** The bundled proxy itself, idle with one route from a file, as bench/proxy.ts starts it. */
async function proxyIdle(dir: string): Promise<Footprint> {
  await assertPortsFree(Object.values(PROXY_PORTS));
  await buildDetour(dir);
  const proxy = startDetour(
    dir,
    'footprint',
    `file:${routeFile(dir, 'routes.json', 8080)}`,
    PROXY_PORTS,
  );
  try {
    await waitHttp(PROXY_PORTS.admin, '/ready', BENCH_HOST);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pids = pidsOf(proxy.pid);
    return { rss: rssMb(pids) * 1024, anon: anonMb(pids) * 1024 };
  } finally {
    await stop(proxy);
  }
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'detour-footprint-'));
  try {
    const mb = (kb: number): string => (kb / 1024).toFixed(1);
    const lines = [
      `each case bundled as the proxy is; NODE_OPTIONS=${INJECTED_ENV.NODE_OPTIONS ?? ''}, MALLOC_ARENA_MAX=${INJECTED_ENV.MALLOC_ARENA_MAX ?? ''}`,
      '',
      '| what is loaded | RSS MB (anon) | more than the floor: RSS MB (anon) |',
      '| --- | --- | --- |',
    ];
    let floor: Footprint | undefined;
    const row = (name: string, f: Footprint): string =>
      `| ${name} | ${mb(f.rss)} (${mb(f.anon)}) | ${
        floor === undefined ? '-' : `${mb(f.rss - floor.rss)} (${mb(f.anon - floor.anon)})`
      } |`;
    for (const [name, code] of Object.entries(CASES)) {
      const f = await measure(dir, name, code);
      floor ??= f;
      lines.push(row(name, f));
    }
    lines.push(
      row('**the proxy, idle, one file table** (`dist/detour-proxy.js`)', await proxyIdle(dir)),
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
