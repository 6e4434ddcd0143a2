/**
 * `npm run bench -- proxy`: the same small upstream (nginx `return 200`) measured through
 * nothing (direct), detour, nginx and haproxy, each proxy pinned to one CPU with taskset
 * and configured as a Host-routing reverse proxy with upstream keep-alive and an access
 * log to a file. Prints req/s and p50/p99 at saturation (wrk), p50/p99 at a fixed
 * 1000 req/s (a rate-limited undici client: wrk2 is not packaged), CPU time per request
 * (from /proc/PID/stat) and RSS, with ratios to nginx; then detour's RSS with 10,000
 * routes loaded. Every process it starts is killed at the end.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer } from 'node:net';
import { Pool, request } from 'undici';
import { grpcLoadScript, grpcServerScript } from './h2c-scripts.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = 'bench.detour.test';
const SATURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const FIXED_S = Number(process.env.BENCH_FIXED_SECONDS ?? 5);
const FIXED_RATE = 1000;
const CONNECTIONS = 50;
/** The proxy under test gets CPU 0; upstream and load generators share the other. */
const PROXY_CPU = '0';
const LOAD_CPU = process.env.BENCH_LOAD_CPU ?? '1';

/**
 * Node flags of the proxy process. A 2 MB semi-space (V8's default is 16 MB, up to 48 MB
 * of young generation) costs no measurable throughput here and saves 8 MB idle and tens
 * of MB under load; the sidecar container should set it through NODE_OPTIONS.
 */
const NODE_FLAGS: string[] = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=2')
  .split(' ')
  .filter((f) => f !== '');

const PORTS = {
  upstream: 28080,
  detour: 28081,
  detourAdmin: 28090,
  nginx: 28082,
  haproxy: 28083,
  detour10k: 28084,
  detour10kAdmin: 28091,
  /** The destination sidecar of the inbound row: its admin, and its inbound listener. */
  destAdmin: 28092,
  destInbound: 28086,
  /** The h2c rows: a gRPC server, detour in front of it, nginx's grpc_pass. */
  grpcUpstream: 28093,
  detourH2c: 28094,
  detourH2cAdmin: 28095,
  nginxGrpc: 28096,
};

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  fixedP50: number;
  fixedP99: number;
  cpuUsPerReq: number | undefined;
  rssMb: number | undefined;
}

const children: ChildProcess[] = [];

export async function run(): Promise<void> {
  await assertPortsFree();
  const dir = mkdtempSync(join(tmpdir(), 'detour-bench-'));
  try {
    await bench(dir);
  } finally {
    for (const child of children) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A leftover process on a bench port would silently stand in for the real one. */
async function assertPortsFree(): Promise<void> {
  for (const port of Object.values(PORTS)) {
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', () => {
        reject(new Error(`bench: port 127.0.0.1:${port} is taken; is an earlier run still alive?`));
      });
      probe.listen(port, '127.0.0.1', () => {
        probe.close(() => {
          resolve();
        });
      });
    });
  }
}

async function bench(dir: string): Promise<void> {
  buildDetour(dir);
  // BENCH_ONLY=h2c: the gRPC rows alone (quicker, when only HTTP/2 changed).
  if (process.env.BENCH_ONLY === 'h2c') {
    process.stdout.write(printH2c(await benchH2c(dir)) + '\n');
    return;
  }
  const upstream = startNginxUpstream(dir);
  await waitHttp(PORTS.upstream, '/');
  const rows: Row[] = [];

  rows.push(await measure('direct', PORTS.upstream, undefined));

  const detour = startDetour(dir, PORTS.detour, PORTS.detourAdmin, routesYaml(1), 'routes.yaml');
  await waitHttp(PORTS.detourAdmin, '/ready');
  const detourIdle = rssMb(detour.pid);
  const detourRow = await measure('detour', PORTS.detour, detour.pid);
  detourRow.rssMb = detourIdle;
  rows.push(detourRow);
  await stop(detour);

  // ApiPolicy steps on the same route (issue 11's target: a cached forwardAuth or a
  // rateLimit adds under 5 % CPU per request).
  for (const [name, policy] of [
    ['detour + forwardAuth (cached)', BENCH_POLICIES.authCached],
    ['detour + forwardAuth (uncached)', BENCH_POLICIES.authUncached],
    ['detour + rateLimit', BENCH_POLICIES.rateLimit],
  ] as const) {
    const file = `${name.replace(/\W+/g, '-')}.yaml`;
    const withPolicy = startDetour(
      dir,
      PORTS.detour,
      PORTS.detourAdmin,
      routesYaml(1, PORTS.upstream, policy),
      file,
    );
    await waitHttp(PORTS.detourAdmin, '/ready');
    rows.push(await measure(name, PORTS.detour, withPolicy.pid));
    await stop(withPolicy);
  }

  // Through two sidecars, as a call between two injected pods goes: the caller's
  // outbound proxy routes to the destination pod, whose inbound listener (iptables would
  // redirect the pod port there) checks the call and hands it to the app.
  const dest = startDetour(dir, 0, PORTS.destAdmin, routesYaml(1), 'dest.yaml', [
    '--inbound',
    `${PORTS.upstream}=${PORTS.destInbound}`,
  ]);
  await waitHttp(PORTS.destAdmin, '/ready');
  const caller = startDetour(
    dir,
    PORTS.detour,
    PORTS.detourAdmin,
    routesYaml(1, PORTS.destInbound),
    'caller.yaml',
  );
  await waitHttp(PORTS.detourAdmin, '/ready');
  const pids = [caller.pid, dest.pid].filter((pid): pid is number => pid !== undefined);
  rows.push(await measure('detour inbound (2 proxies)', PORTS.detour, pids));
  await stop(caller);
  await stop(dest);

  const nginx = startNginxProxy(dir);
  await waitHttp(PORTS.nginx, '/');
  const nginxPids = pidsOf(nginx.pid);
  const nginxIdle = nginxPids.reduce((sum, pid) => sum + (rssMb(pid) ?? 0), 0);
  const nginxRow = await measure('nginx', PORTS.nginx, nginxPids);
  nginxRow.rssMb = nginxIdle;
  rows.push(nginxRow);
  await stop(nginx);

  const haproxy = startHaproxy(dir);
  await waitHttp(PORTS.haproxy, '/');
  const haproxyIdle = rssMb(haproxy.pid);
  const haproxyRow = await measure('haproxy', PORTS.haproxy, haproxy.pid);
  haproxyRow.rssMb = haproxyIdle;
  rows.push(haproxyRow);
  await stop(haproxy);

  const big = startDetour(
    dir,
    PORTS.detour10k,
    PORTS.detour10kAdmin,
    routesYaml(10_000),
    'routes-10k.yaml',
  );
  await waitHttp(PORTS.detour10kAdmin, '/ready', 60_000);
  // A little traffic so the route lookup and one pool exist, as in a real pod.
  await fixedRate(PORTS.detour10k, 200, 1);
  const rss10k = rssMb(big.pid);
  await stop(big);
  const plane10k = await dataPlaneRss(dir, 10_000);
  await stop(upstream);
  const h2c = await benchH2c(dir);

  print(rows, detourIdle, rss10k, plane10k);
  process.stdout.write('\n' + printH2c(h2c) + '\n');
}

interface H2cRow {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  /** CPU per call of the proxy in the path (undefined: direct). */
  proxyUs: number | undefined;
  /** CPU per call of the gRPC server itself. */
  serverUs: number;
}

/**
 * Unary gRPC over h2c (prior knowledge): a @grpc/grpc-js server called directly, through
 * detour, and through nginx's `grpc_pass`, each proxy pinned to CPU 0 as above; CPU per
 * call from /proc of the proxy and of the server.
 */
async function benchH2c(dir: string): Promise<H2cRow[]> {
  const build = join(dir, 'build');
  writeFileSync(join(build, 'grpc-server.mjs'), grpcServerScript(PORTS.grpcUpstream));
  const load = join(build, 'grpc-load.mjs');
  writeFileSync(load, grpcLoadScript());
  const server = launch(
    LOAD_CPU,
    process.execPath,
    [join(build, 'grpc-server.mjs')],
    join(dir, 'grpc-server.out'),
  );
  await waitTcp(PORTS.grpcUpstream);
  const rows: H2cRow[] = [];
  rows.push(await measureH2c(load, 'direct (grpc-js server)', PORTS.grpcUpstream, server.pid, []));
  const detour = startDetour(
    dir,
    PORTS.detourH2c,
    PORTS.detourH2cAdmin,
    routesYaml(1, PORTS.grpcUpstream),
    'routes-h2c.yaml',
  );
  await waitHttp(PORTS.detourH2cAdmin, '/ready');
  rows.push(await measureH2c(load, 'detour', PORTS.detourH2c, server.pid, pidsOf(detour.pid)));
  await stop(detour);
  const nginx = startNginxGrpc(dir);
  await waitTcp(PORTS.nginxGrpc);
  rows.push(
    await measureH2c(load, 'nginx grpc_pass', PORTS.nginxGrpc, server.pid, pidsOf(nginx.pid)),
  );
  await stop(nginx);
  await stop(server);
  return rows;
}

async function measureH2c(
  script: string,
  name: string,
  port: number,
  serverPid: number | undefined,
  proxyPids: number[],
): Promise<H2cRow> {
  await grpcLoad(script, port, 2); // warm-up: JIT, connections
  const ticks = (pids: number[]): number => pids.reduce((sum, p) => sum + cpuTicks(p), 0);
  const servers = serverPid === undefined ? [] : [serverPid];
  const proxyBefore = ticks(proxyPids);
  const serverBefore = ticks(servers);
  const load = await grpcLoad(script, port, SATURATION_S);
  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const perCall = (t: number): number => ((t / hz) * 1e6) / Math.max(1, load.requests);
  return {
    name,
    rps: load.requests / SATURATION_S,
    p50: load.p50,
    p99: load.p99,
    proxyUs: proxyPids.length === 0 ? undefined : perCall(ticks(proxyPids) - proxyBefore),
    serverUs: perCall(ticks(servers) - serverBefore),
  };
}

/** Runs the load generator on the load CPU; fails on any call that did not end in OK. */
async function grpcLoad(
  script: string,
  port: number,
  seconds: number,
): Promise<{ requests: number; p50: number; p99: number }> {
  const child = spawn(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      process.execPath,
      script,
      String(port),
      HOST,
      String(seconds),
      String(CONNECTIONS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  await new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const result = JSON.parse(out) as { requests: number; failed: number; p50: number; p99: number };
  if (result.failed > 0 || result.requests === 0) {
    throw new Error(`bench: failed gRPC calls on port ${port}: ${out}`);
  }
  return result;
}

function printH2c(rows: H2cRow[]): string {
  const direct = rows.find((r) => r.name.startsWith('direct'));
  const detour = rows.find((r) => r.name === 'detour');
  const us = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(1));
  const lines = [
    `h2c, unary gRPC (5-byte messages): ${CONNECTIONS} calls in flight on one HTTP/2 connection for ${SATURATION_S}s; proxy on CPU ${PROXY_CPU}, grpc-js server + load on CPU ${LOAD_CPU}`,
    '',
    '| through | calls/s | p50 ms | p99 ms | proxy CPU µs/call | server CPU µs/call |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ` +
        `${us(r.proxyUs)} | ${us(r.serverUs)} |`,
    ),
  ];
  if (direct !== undefined && detour?.proxyUs !== undefined) {
    const x = detour.proxyUs / direct.serverUs;
    lines.push(
      '',
      `target: detour CPU per call ${x.toFixed(2)}x the direct call's server side (<= 2) ${x <= 2 ? 'OK' : 'MISSED'}`,
    );
  }
  return lines.join('\n');
}

function startNginxGrpc(dir: string): ChildProcess {
  const conf = join(dir, 'nginx-grpc.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx-grpc.pid;
error_log ${dir}/nginx-grpc-error.log;
events { worker_connections 4096; }
http {
  access_log ${dir}/nginx-grpc-access.log;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  http2_max_requests 1000000;
  keepalive_requests 1000000;
  upstream grpcapp { server 127.0.0.1:${PORTS.grpcUpstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${PORTS.nginxGrpc} http2;
    location / { grpc_pass grpc://grpcapp; }
  }
}
`,
  );
  return launch(PROXY_CPU, 'nginx', ['-p', dir, '-c', conf], join(dir, 'nginx-grpc.out'));
}

async function waitTcp(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`bench: port ${port} not listening in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * RSS of the data plane alone with `count` routes: ProxyServer + access log + metrics
 * with a table built from JSON (as the kube source receives it), no YAML parser. The
 * file source's YAML parse of a 10,000-route file peaks at ~250 MB of heap that V8
 * keeps afterwards, which the CLI row includes.
 */
async function dataPlaneRss(dir: string, count: number): Promise<number | undefined> {
  const json = join(dir, 'routes.json');
  writeFileSync(json, JSON.stringify([parseRoutes(count)]));
  const script = join(dir, 'build', 'plane-only.mjs');
  writeFileSync(
    script,
    `import { readFileSync } from 'node:fs';
import { ProxyServer } from './sidecar/proxy-server.js';
import { AccessLog } from './sidecar/access-log.js';
import { ProxyMetrics } from './sidecar/proxy-metrics.js';
import { RouteTable } from './sidecar/route-table.js';
const proxy = new ProxyServer({ mode: 'sidecar', config: { apiKeyHeader: 'x-routing-api-key', clientMaxBodySize: 1048576 }, accessLog: new AccessLog(), metrics: new ProxyMetrics() });
proxy.setTable(RouteTable.fromResources(JSON.parse(readFileSync(process.argv[2], 'utf8'))));
proxy.markReady();
await proxy.listen(${PORTS.detour10k}, '127.0.0.1');
`,
  );
  const child = launch(
    PROXY_CPU,
    process.execPath,
    [...NODE_FLAGS, script, json],
    join(dir, 'plane.out'),
  );
  try {
    await waitHttp(PORTS.detour10k, '/');
  } catch (err) {
    process.stderr.write(readFileSync(join(dir, 'plane.out'), 'utf8'));
    throw err;
  }
  await fixedRate(PORTS.detour10k, 200, 1);
  const rss = rssMb(child.pid);
  await stop(child);
  return rss;
}

function print(
  rows: Row[],
  detourIdle: number | undefined,
  rss10k: number | undefined,
  plane10k: number | undefined,
): void {
  const nginx = rows.find((r) => r.name === 'nginx');
  const lines = [
    `wrk -t1 -c${CONNECTIONS} -d${SATURATION_S}s (saturation), undici client at ${FIXED_RATE} req/s for ${FIXED_S}s (fixed); proxy on CPU ${PROXY_CPU}, upstream + load on CPU ${LOAD_CPU}; detour: node ${NODE_FLAGS.join(' ')}, JSON access log to a file`,
    '',
    '| through | req/s | p50 ms | p99 ms | p50 ms @1000/s | p99 ms @1000/s | CPU µs/req | RSS MB idle |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => tableRow(r, nginx)),
    '',
    targets(rows, detourIdle, rss10k),
    policyTargets(rows),
    `RSS with 10,000 routes: detour proxy --source file: (YAML) ${mb(rss10k)} MB; ` +
      `data plane with the table from JSON ${mb(plane10k)} MB`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function ratio(value: number, base: number | undefined): string {
  return base === undefined || base === 0 ? '' : ` (${(value / base).toFixed(2)}x)`;
}

function mb(value: number | undefined): string {
  return value === undefined ? '?' : value.toFixed(1);
}

function tableRow(r: Row, nginx: Row | undefined): string {
  const cpu =
    r.cpuUsPerReq === undefined
      ? '-'
      : r.cpuUsPerReq.toFixed(1) + ratio(r.cpuUsPerReq, nginx?.cpuUsPerReq);
  return (
    `| ${r.name} | ${Math.round(r.rps)}${ratio(r.rps, nginx?.rps)} | ${r.p50.toFixed(2)} | ` +
    `${r.p99.toFixed(2)} | ${r.fixedP50.toFixed(3)} | ${r.fixedP99.toFixed(3)} | ${cpu} | ` +
    `${r.rssMb === undefined ? '-' : r.rssMb.toFixed(1)} |`
  );
}

/** Issue 11's target: an ApiPolicy step's CPU per request next to the plain route's. */
function policyTargets(rows: Row[]): string {
  const plain = rows.find((r) => r.name === 'detour')?.cpuUsPerReq;
  if (plain === undefined) return '';
  const parts: string[] = [];
  for (const r of rows) {
    if (!r.name.startsWith('detour + ') || r.cpuUsPerReq === undefined) continue;
    const added = (r.cpuUsPerReq / plain - 1) * 100;
    const target = r.name.includes('uncached') ? '' : ` (< 5 %) ${added < 5 ? 'OK' : 'MISSED'}`;
    parts.push(`${r.name.slice('detour + '.length)} +${added.toFixed(1)} % CPU/req${target}`);
  }
  return parts.length === 0 ? '' : `ApiPolicy steps vs the plain route: ${parts.join('; ')}`;
}

function targets(rows: Row[], idle: number | undefined, rss10k: number | undefined): string {
  const detour = rows.find((r) => r.name === 'detour');
  const direct = rows.find((r) => r.name === 'direct');
  const nginx = rows.find((r) => r.name === 'nginx');
  if (detour === undefined || direct === undefined || nginx === undefined) return '';
  const verdict = (ok: boolean): string => (ok ? 'OK' : 'MISSED');
  const share = detour.rps / nginx.rps;
  const added = detour.fixedP50 - direct.fixedP50;
  return (
    `targets: throughput ${share.toFixed(2)}x nginx (>= 0.30) ${verdict(share >= 0.3)}; ` +
    `added p50 @1000/s ${added.toFixed(3)} ms (< 0.5) ${verdict(added < 0.5)}; ` +
    `RSS idle ${mb(idle)} MB (< 80) ${verdict((idle ?? Infinity) < 80)}; ` +
    `RSS with 10,000 routes ${mb(rss10k)} MB (< 150) ${verdict((rss10k ?? Infinity) < 150)}`
  );
}

async function measure(
  name: string,
  port: number,
  pid: number | number[] | undefined,
): Promise<Row> {
  const pids = pid === undefined ? [] : Array.isArray(pid) ? pid : [pid];
  // Warm up (JIT, pools), then saturate.
  wrk(port, 2);
  const before = pids.reduce((sum, p) => sum + cpuTicks(p), 0);
  const sat = wrk(port, SATURATION_S);
  const after = pids.reduce((sum, p) => sum + cpuTicks(p), 0);
  const fixed = await fixedRate(port, FIXED_RATE, FIXED_S);
  const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return {
    name,
    rps: sat.rps,
    p50: sat.p50,
    p99: sat.p99,
    fixedP50: fixed.p50,
    fixedP99: fixed.p99,
    cpuUsPerReq:
      pids.length === 0 ? undefined : (((after - before) / hz) * 1e6) / Math.max(1, sat.requests),
    rssMb: undefined,
  };
}

function wrk(
  port: number,
  seconds: number,
): { rps: number; p50: number; p99: number; requests: number } {
  const out = execFileSync(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      'wrk',
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--latency',
      '-H',
      `Host: ${HOST}`,
      `http://127.0.0.1:${port}/bench`,
    ],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (non2xx > 0 || requests === 0) throw new Error(`bench: bad answers on port ${port}:\n${out}`);
  return { rps, requests, p50: percentile(out, '50%'), p99: percentile(out, '99%') };
}

function percentile(out: string, label: string): number {
  const match = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
  if (match === null) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/**
 * Open-loop load at a fixed rate: a request is started every 1/rate s whatever the
 * previous ones do (so slow answers do not lower the rate), latency measured per request.
 */
async function fixedRate(
  port: number,
  rate: number,
  seconds: number,
): Promise<{ p50: number; p99: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32, pipelining: 1 });
  const latencies: number[] = [];
  const total = rate * seconds;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(
      pool.request({ path: '/bench', method: 'GET', headers: { host: HOST } }).then(async (res) => {
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        latencies.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(pending);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

function startNginxUpstream(dir: string): ChildProcess {
  const conf = join(dir, 'upstream.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/upstream.pid;
error_log ${dir}/upstream-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${PORTS.upstream};
    location / { return 200 "hello from upstream\\n"; }
    location /auth { add_header x-consumer-id bench; return 204; }
  }
}
`,
  );
  return launch(LOAD_CPU, 'nginx', ['-p', dir, '-c', conf], join(dir, 'upstream.out'));
}

function startNginxProxy(dir: string): ChildProcess {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log ${dir}/nginx-access.log;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:${PORTS.upstream}; keepalive 64; }
  server { listen 127.0.0.1:${PORTS.nginx} default_server; return 404; }
  server {
    listen 127.0.0.1:${PORTS.nginx};
    server_name ${HOST};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  return launch(PROXY_CPU, 'nginx', ['-p', dir, '-c', conf], join(dir, 'nginx.out'));
}

function startHaproxy(dir: string): ChildProcess {
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  nbthread 1
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option forwardfor
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:${PORTS.haproxy}
  acl bench hdr(host) -i ${HOST}
  use_backend app if bench
  http-request deny deny_status 404 unless bench
backend app
  server s1 127.0.0.1:${PORTS.upstream}
`,
  );
  return launch(PROXY_CPU, 'haproxy', ['-f', conf, '-db'], join(dir, 'haproxy.out'));
}

function startDetour(
  dir: string,
  port: number,
  adminPort: number,
  yaml: string,
  file: string,
  extraArgs: string[] = [],
): ChildProcess {
  const path = join(dir, file);
  writeFileSync(path, yaml);
  return launch(
    PROXY_CPU,
    process.execPath,
    [
      ...NODE_FLAGS,
      join(dir, 'build/bin/detour.js'),
      'proxy',
      '--source',
      `file:${path}`,
      '--listen',
      String(port),
      '--admin-port',
      String(adminPort),
      '--dns-port',
      '0',
      '--listen-host',
      '127.0.0.1',
      '--admin-host',
      '127.0.0.1',
      ...extraArgs,
    ],
    join(dir, `${file}.out`),
    // POD_*: the downward API env the webhook gives an injected proxy.
    {
      LOG_FORMAT: 'json',
      CLIENT_MAX_BODY_SIZE: '1m',
      POD_NAMESPACE: 'bench',
      POD_IP: '127.0.0.1',
    },
  );
}

/** One RouteTable of `count` routes; the first is the benchmark's, on the upstream. */
function parseRoutes(count: number): object {
  const routes = [];
  for (let i = 0; i < count; i++) {
    routes.push({
      host: i === 0 ? HOST : `app-${i}.bench`,
      path: i === 0 ? '/' : `/api/v${i % 7}`,
      claimedAt: '2024-01-01T00:00:00Z',
      endpoints: [
        { ip: '127.0.0.1', port: i === 0 ? PORTS.upstream : 8000 + (i % 1000), pod: `pod-${i}` },
      ],
    });
  }
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'RouteTable',
    metadata: { name: 'detour-private', namespace: 'bench' },
    spec: { plane: 'private', routes },
  };
}

/** The same table as YAML, for the file source (`firstPort`: the bench route's endpoint). */
/**
 * ApiPolicies inline on the bench route, as the controller compiles them. The auth
 * service is the upstream nginx's `/auth` location (204), so its own cost stays out of
 * detour's CPU figure; the rate limit is high enough never to refuse, so every request
 * pays for its bucket.
 */
const BENCH_POLICIES = {
  authUncached: `{ name: bench/auth, forwardAuth: { url: "http://127.0.0.1:${PORTS.upstream}/auth", timeoutMs: 500, failureMode: closed, responseHeaders: [x-consumer-id], cacheSeconds: 0 } }`,
  authCached: `{ name: bench/auth, forwardAuth: { url: "http://127.0.0.1:${PORTS.upstream}/auth", timeoutMs: 500, failureMode: closed, responseHeaders: [x-consumer-id], cacheSeconds: 60 } }`,
  rateLimit: `{ name: bench/limit, rateLimit: { requests: 1000000000, windowSeconds: 1, key: "header:x-consumer-id" } }`,
} as const;

function routesYaml(
  count: number,
  firstPort: number = PORTS.upstream,
  firstPolicy?: string,
): string {
  const lines = [
    'apiVersion: detour.dev/v1alpha1',
    'kind: RouteTable',
    'metadata: { name: detour-private, namespace: bench }',
    'spec:',
    '  plane: private',
    '  routes:',
  ];
  for (let i = 0; i < count; i++) {
    const host = i === 0 ? HOST : `app-${i}.bench`;
    const path = i === 0 ? '/' : `/api/v${i % 7}`;
    const port = i === 0 ? firstPort : 8000 + (i % 1000);
    lines.push(
      `  - host: ${host}`,
      `    path: ${path}`,
      '    claimedAt: "2024-01-01T00:00:00Z"',
      `    endpoints: [{ ip: 127.0.0.1, port: ${port}, pod: pod-${i} }]`,
    );
    if (i === 0 && firstPolicy !== undefined) lines.push(`    policy: ${firstPolicy}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The image runs compiled JavaScript, not tsx (whose loader alone costs ~20 MB of RSS),
 * so the bench compiles the commands into the temp dir first.
 */
function buildDetour(dir: string): void {
  const out = join(dir, 'build');
  try {
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        out,
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
  } catch {
    // Type errors elsewhere in the tree do not stop tsc from emitting JavaScript.
  }
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
  copyFileSync(join(ROOT, 'package.json'), join(out, 'package.json'));
}

function launch(
  cpu: string,
  command: string,
  args: string[],
  out: string,
  env: Record<string, string> = {},
): ChildProcess {
  const fd = openSync(out, 'a');
  const child = spawn('taskset', ['-c', cpu, command, ...args], {
    cwd: ROOT,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  children.push(child);
  return child;
}

/**
 * SIGTERM, then SIGKILL after 5 s. nginx's workers are killed too if they outlive their
 * master: a SIGKILLed master leaves them running (and holding the port).
 */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const workers = pidsOf(child.pid).slice(1);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
  for (const pid of workers) {
    try {
      // Only if the pid is still that worker (pids are reused).
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nginx: worker')) {
        process.kill(pid, 'SIGKILL');
      }
    } catch {
      // already gone, as it should be
    }
  }
}

async function waitHttp(port: number, path: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // undici's request, not fetch: fetch may not set Host.
      const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { host: HOST } });
      await res.body.dump();
      if (res.statusCode < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`bench: port ${port}${path} not ready in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** nginx: the master and its workers. */
function pidsOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    const kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
    return [pid, ...kids];
  } catch {
    return [pid];
  }
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}
