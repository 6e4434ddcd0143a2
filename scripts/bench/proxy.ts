/**
 * `npm run bench -- proxy`: detour measured as injected (issue 13), side by side with
 * nginx and haproxy in one run, on one upstream (nginx `return 200`, one worker).
 *
 * - detour is the bundle the image runs (`detour-proxy proxy`, scripts/build.ts) with
 *   the webhook's NODE_OPTIONS and env (bench/proxy/detour.ts);
 * - each proxy is pinned to CPU 0 with taskset; the upstream and both load generators
 *   (wrk, and the fixed-rate client process) are pinned to CPU 1;
 * - per proxy: idle RSS; req/s, p50/p99 and CPU per request at saturation (wrk -c50);
 *   p50/p99 and CPU per request at a fixed 1000 req/s; peak RSS during a soak of 50
 *   connections sending 1 KiB POSTs (BENCH_SOAK_SECONDS, default 60); for the soaked
 *   rows, main-thread wakeups and CPU per second over 5 s with no traffic;
 * - detour alone: start to ready (spawn to /ready answering 200, first table applied),
 *   the payload the image ships (dist/), and RSS with 1 and with 10,000 routes from the
 *   kube source with admin and DNS running (bench/proxy/kube-routes.ts);
 * - the floor: a bare node:http server with the same Node flags, and the runtime's floor
 *   for a proxy (bench/proxy/node-relay.ts: Node's server and an undici Pool relaying,
 *   no detour code), measured as detour is, so each target also shows whether any Node
 *   proxy meets it, and the same relay on Node's own HTTP client;
 * - ApiPolicy rows (a cached and an uncached forwardAuth, a rateLimit on the bench
 *   route, bench/proxy/policies.ts) with issue 11's target, and unary gRPC over h2c
 *   (bench/proxy/h2c.ts; `BENCH_ONLY=h2c` runs those alone, `BENCH_ONLY=kube` the
 *   kube-source rows alone).
 *
 * Knobs: BENCH_SECONDS (saturation, 8), BENCH_FIXED_SECONDS (5), BENCH_SOAK_SECONDS
 * (60), BENCH_PROXY_CPU / BENCH_LOAD_CPU (0 / 1), BENCH_PROXY_NODE_OPTIONS and
 * BENCH_PROXY_MALLOC_ARENA_MAX (instead of the webhook's). Every process it starts is
 * killed at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_HOST, buildDetour, INJECTED_ENV, routeFile, startDetour } from './proxy/detour.js';
import { benchH2c, printH2c } from './proxy/h2c.js';
import { kubeRoutesRss, type KubeRoutesResult } from './proxy/kube-routes.js';
import { startNodeRelay } from './proxy/node-relay.js';
import { benchPolicies } from './proxy/policies.js';
import { CONNECTIONS, fixedRate, postScript, wrk } from './proxy/load.js';
import { startHaproxy, startNginxProxy, startNginxUpstream } from './proxy/peers.js';
import {
  anonMb,
  assertPortsFree,
  cpuSeconds,
  launch,
  LOAD_CPU,
  pidsOf,
  PROXY_CPU,
  rssMb,
  stop,
  stopAll,
  waitHttp,
  wakeups,
} from './proxy/processes.js';

const SATURATION_S = Number(process.env.BENCH_SECONDS ?? 8);
const FIXED_S = Number(process.env.BENCH_FIXED_SECONDS ?? 5);
const SOAK_S = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const FIXED_RATE = 1000;
const SOAK_BODY_BYTES = 1024;
const START_RUNS = 5;
const IDLE_S = 5;
const KUBE_ROUTES = 10_000;

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
  bare: 28087,
  relay: 28088,
  /** The h2c rows: a gRPC server, detour in front of it, nginx's grpc_pass. */
  grpcUpstream: 28093,
  detourH2c: 28094,
  detourH2cAdmin: 28096,
  nginxGrpc: 28097,
};

/** The runtime's floor for a proxy: Node's server and undici's Pool, no detour code. */
const RELAY_ROW = 'Node relay (no detour code)';
/** The same relay on Node's own HTTP client: what undici costs and saves. */
const HTTP_RELAY_ROW = 'Node relay, node:http client';

/** The targets (issue 13). */
const TARGETS = {
  idleMb: 60,
  soakMb: 80,
  kubeRoutesMb: 110,
  cpuVsNginx: 1.5,
  readyMs: 300,
};

interface Row {
  name: string;
  idleMb: number | undefined;
  idleAnonMb: number | undefined;
  /** Main-thread wakeups per second and CPU ms per second, idle (soaked rows only). */
  idle: { wakeups: number; cpuMs: number } | undefined;
  soakMb: number | undefined;
  soakAnonMb: number | undefined;
  rps: number;
  p50: number;
  p99: number;
  cpuSat: number | undefined;
  fixedP50: number;
  fixedP99: number;
  cpuFixed: number | undefined;
}

interface Extras {
  payloadMb: number;
  readyMs: number[];
  bareMb: string;
  kube: KubeRoutesResult | string;
  /** One route from the kube source, after a little traffic: a quiet pod's proxy. */
  kubeOne: KubeRoutesResult | string;
}

export async function run(): Promise<void> {
  await assertPortsFree(Object.values(PORTS));
  const dir = mkdtempSync(join(tmpdir(), 'detour-bench-'));
  try {
    await bench(dir);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bench(dir: string): Promise<void> {
  const payloadMb = await buildDetour(dir);
  // BENCH_ONLY=h2c: the gRPC rows alone (quicker, when only HTTP/2 changed).
  if (process.env.BENCH_ONLY === 'h2c') {
    process.stdout.write(
      printH2c(await benchH2c(dir, H2C_PORTS, SATURATION_S), SATURATION_S) + '\n',
    );
    return;
  }
  const soakScript = postScript(dir, SOAK_BODY_BYTES);
  const upstream = startNginxUpstream(dir, PORTS.upstream);
  await waitHttp(PORTS.upstream, '/', BENCH_HOST);
  // BENCH_ONLY=kube: the kube-source rows alone (when only the kube source changed).
  if (process.env.BENCH_ONLY === 'kube') {
    const kubeOne = await kubeRoutes(dir, 1);
    const kube = await kubeRoutes(dir, KUBE_ROUTES);
    process.stdout.write(`${kubeLine(1, kubeOne)}\n${kubeLine(KUBE_ROUTES, kube)}\n`);
    return;
  }
  const rows: Row[] = [];
  const file = routeFile(dir, 'routes.json', PORTS.upstream);
  const detourPorts = { listen: PORTS.detour, admin: PORTS.detourAdmin };

  rows.push(await measure('direct', PORTS.upstream, [], undefined));

  const readyMs: number[] = [];
  for (let i = 0; i < START_RUNS; i++) {
    const started = performance.now();
    const probe = startDetour(dir, `start-${i}`, `file:${file}`, detourPorts);
    await waitHttp(PORTS.detourAdmin, '/ready', BENCH_HOST, 20_000, 5);
    readyMs.push(performance.now() - started);
    await stop(probe);
  }

  const detour = startDetour(dir, 'detour', `file:${file}`, detourPorts);
  await waitHttp(PORTS.detourAdmin, '/ready', BENCH_HOST);
  rows.push(await measure('detour', PORTS.detour, pidsOf(detour.pid), soakScript));
  await stop(detour);

  for (const client of ['undici', 'node'] as const) {
    const relay = await startNodeRelay(dir, PORTS.relay, PORTS.upstream, client);
    await waitHttp(PORTS.relay, '/', BENCH_HOST);
    const name = client === 'undici' ? RELAY_ROW : HTTP_RELAY_ROW;
    rows.push(await measure(name, PORTS.relay, pidsOf(relay.pid), soakScript));
    await stop(relay);
  }

  // ApiPolicy steps on the same route (issue 11's target: a cached forwardAuth or a
  // rateLimit adds under 5 % CPU per request).
  for (const [name, policy] of Object.entries(benchPolicies(PORTS.upstream))) {
    const policyFile = routeFile(dir, `${name.replace(/\W+/g, '-')}.json`, PORTS.upstream, policy);
    const withPolicy = startDetour(
      dir,
      name.replace(/\W+/g, '-'),
      `file:${policyFile}`,
      detourPorts,
    );
    await waitHttp(PORTS.detourAdmin, '/ready', BENCH_HOST);
    rows.push(await measure(name, PORTS.detour, pidsOf(withPolicy.pid), undefined));
    await stop(withPolicy);
  }

  rows.push(await inboundRow(dir));

  const nginx = startNginxProxy(dir, PORTS.nginx, PORTS.upstream, BENCH_HOST);
  await waitHttp(PORTS.nginx, '/', BENCH_HOST);
  rows.push(await measure('nginx', PORTS.nginx, pidsOf(nginx.pid), soakScript));
  await stop(nginx);

  const haproxy = startHaproxy(dir, PORTS.haproxy, PORTS.upstream, BENCH_HOST);
  await waitHttp(PORTS.haproxy, '/', BENCH_HOST);
  rows.push(await measure('haproxy', PORTS.haproxy, pidsOf(haproxy.pid), soakScript));
  await stop(haproxy);

  const bareMb = await bareNodeHttp(dir);
  const kubeOne = await kubeRoutes(dir, 1);
  const kube = await kubeRoutes(dir, KUBE_ROUTES);
  await stop(upstream);
  const h2c = await benchH2c(dir, H2C_PORTS, SATURATION_S);

  print(rows, { payloadMb, readyMs, bareMb, kube, kubeOne });
  process.stdout.write('\n' + printH2c(h2c, SATURATION_S) + '\n');
}

function kubeRoutes(dir: string, count: number): Promise<KubeRoutesResult | string> {
  return kubeRoutesRss(
    dir,
    count,
    { listen: PORTS.detour10k, admin: PORTS.detour10kAdmin },
    PORTS.upstream,
  );
}

const H2C_PORTS = {
  grpcUpstream: PORTS.grpcUpstream,
  detour: PORTS.detourH2c,
  detourAdmin: PORTS.detourH2cAdmin,
  nginx: PORTS.nginxGrpc,
};

/** Issue 11's target: an ApiPolicy step's CPU per request next to the plain route's. */
function policyTargets(rows: Row[]): string {
  const plain = rows.find((r) => r.name === 'detour')?.cpuSat;
  if (plain === undefined) return '';
  const parts: string[] = [];
  for (const r of rows) {
    if (!r.name.startsWith('detour + ') || r.cpuSat === undefined) continue;
    const added = (r.cpuSat / plain - 1) * 100;
    const target = r.name.includes('uncached') ? '' : ` (< 5 %) ${added < 5 ? 'pass' : 'MISS'}`;
    parts.push(`${r.name.slice('detour + '.length)} +${added.toFixed(1)} % CPU/req${target}`);
  }
  return parts.length === 0 ? '' : `ApiPolicy steps vs the plain route: ${parts.join('; ')}`;
}

/**
 * Through two sidecars, as a call between two injected pods goes: the caller's outbound
 * proxy routes to the destination pod, whose inbound listener (iptables would redirect
 * the pod port there) checks the call and hands it to the app. No soak: the single
 * proxy's row answers the memory question.
 */
async function inboundRow(dir: string): Promise<Row> {
  const destFile = routeFile(dir, 'dest.json', PORTS.upstream);
  const dest = startDetour(
    dir,
    'dest',
    `file:${destFile}`,
    { listen: 0, admin: PORTS.destAdmin },
    { extraArgs: ['--inbound', `${PORTS.upstream}=${PORTS.destInbound}`] },
  );
  await waitHttp(PORTS.destAdmin, '/ready', BENCH_HOST);
  const callerFile = routeFile(dir, 'caller.json', PORTS.destInbound);
  const caller = startDetour(dir, 'caller', `file:${callerFile}`, {
    listen: PORTS.detour,
    admin: PORTS.detourAdmin,
  });
  await waitHttp(PORTS.detourAdmin, '/ready', BENCH_HOST);
  const pids = [caller.pid, dest.pid].filter((pid): pid is number => pid !== undefined);
  const row = await measure('detour inbound (2 proxies)', PORTS.detour, pids, undefined);
  await stop(caller);
  await stop(dest);
  return row;
}

async function measure(
  name: string,
  port: number,
  pids: number[],
  soakScript: string | undefined,
): Promise<Row> {
  const idleMb = pids.length === 0 ? undefined : rssMb(pids);
  const idleAnonMb = pids.length === 0 ? undefined : anonMb(pids);
  const idle = soakScript === undefined || pids.length === 0 ? undefined : await idleActivity(pids);
  const cpuPerRequest = (seconds: number, requests: number): number | undefined =>
    pids.length === 0 ? undefined : (seconds * 1e6) / Math.max(1, requests);
  // Warm up (JIT, pools), then saturate.
  await wrk(port, BENCH_HOST, 2);
  let before = cpuSeconds(pids);
  const sat = await wrk(port, BENCH_HOST, SATURATION_S);
  const cpuSat = cpuPerRequest(cpuSeconds(pids) - before, sat.requests);
  before = cpuSeconds(pids);
  const fixed = await fixedRate(port, BENCH_HOST, FIXED_RATE, FIXED_S);
  const cpuFixed = cpuPerRequest(cpuSeconds(pids) - before, fixed.requests);
  const soak =
    soakScript === undefined || pids.length === 0
      ? undefined
      : await peakRssDuring(pids, wrk(port, BENCH_HOST, SOAK_S, soakScript));
  return {
    name,
    idleMb,
    idleAnonMb,
    idle,
    soakMb: soak?.rss,
    soakAnonMb: soak?.anon,
    rps: sat.rps,
    p50: sat.p50,
    p99: sat.p99,
    cpuSat,
    fixedP50: fixed.p50,
    fixedP99: fixed.p99,
    cpuFixed,
  };
}

/** What a proxy does with no traffic for IDLE_S seconds: wakeups and CPU per second. */
async function idleActivity(pids: number[]): Promise<{ wakeups: number; cpuMs: number }> {
  const woken = wakeups(pids);
  const cpu = cpuSeconds(pids);
  await new Promise((resolve) => setTimeout(resolve, IDLE_S * 1000));
  return {
    wakeups: (wakeups(pids) - woken) / IDLE_S,
    cpuMs: ((cpuSeconds(pids) - cpu) * 1000) / IDLE_S,
  };
}

/** The highest RSS (and its anonymous part) seen every 250 ms while `load` runs and after. */
async function peakRssDuring(
  pids: number[],
  load: Promise<unknown>,
): Promise<{ rss: number; anon: number }> {
  const peak = { rss: 0, anon: 0 };
  const sample = (): void => {
    peak.rss = Math.max(peak.rss, rssMb(pids));
    peak.anon = Math.max(peak.anon, anonMb(pids));
  };
  const timer = setInterval(sample, 250);
  try {
    await load;
  } finally {
    clearInterval(timer);
  }
  sample();
  return peak;
}

/** The floor under any Node proxy: `node:http` answering 200, the same Node flags. */
async function bareNodeHttp(dir: string): Promise<string> {
  const server = `require('node:http').createServer((q, s) => s.end('ok')).listen(${PORTS.bare}, '127.0.0.1')`;
  const bare: ChildProcess = launch(
    PROXY_CPU,
    process.execPath,
    ['-e', server],
    join(dir, 'bare.out'),
    { NODE_OPTIONS: INJECTED_ENV.NODE_OPTIONS, MALLOC_ARENA_MAX: INJECTED_ENV.MALLOC_ARENA_MAX },
  );
  await waitHttp(PORTS.bare, '/', BENCH_HOST);
  const pids = pidsOf(bare.pid);
  const rss = mbAnon(rssMb(pids), anonMb(pids));
  await stop(bare);
  return rss;
}

function print(rows: Row[], extras: Extras): void {
  const nginx = rows.find((r) => r.name === 'nginx');
  const lines = [
    `proxy on CPU ${PROXY_CPU}; upstream, wrk and the fixed-rate client on CPU ${LOAD_CPU}. ` +
      `Saturation: wrk -t1 -c${CONNECTIONS} -d${SATURATION_S}s GET; fixed: ${FIXED_RATE} req/s for ${FIXED_S}s; ` +
      `soak: wrk -c${CONNECTIONS} -d${SOAK_S}s POST ${SOAK_BODY_BYTES} B (peak RSS). ` +
      `detour: dist/detour-proxy.js, NODE_OPTIONS=${INJECTED_ENV.NODE_OPTIONS ?? ''}, MALLOC_ARENA_MAX=${INJECTED_ENV.MALLOC_ARENA_MAX ?? ''}, JSON access log on stdout to a file`,
    '',
    `| through | RSS MB idle (anon) | RSS MB soak (anon) | req/s | p50 ms | p99 ms | CPU µs/req | p50 ms @${FIXED_RATE}/s | p99 ms @${FIXED_RATE}/s | CPU µs/req @${FIXED_RATE}/s |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => tableRow(r, nginx)),
    '',
    `idle for ${IDLE_S} s, main-thread wakeups/s and CPU ms/s: ` +
      rows
        .flatMap((r) =>
          r.idle === undefined
            ? []
            : [`${r.name} ${r.idle.wakeups.toFixed(1)} and ${r.idle.cpuMs.toFixed(1)}`],
        )
        .join('; '),
    `bare node:http, same flags: ${extras.bareMb} MB idle`,
    `start to ready (spawn to /ready 200, file source), ${extras.readyMs.length} starts: ` +
      extras.readyMs.map((ms) => ms.toFixed(0)).join(', ') +
      ' ms',
    `image payload (dist/, no node_modules): ${extras.payloadMb.toFixed(1)} MB`,
    kubeLine(1, extras.kubeOne),
    kubeLine(KUBE_ROUTES, extras.kube),
    '',
    ...targets(rows, extras),
    policyTargets(rows),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** The kube-source row: admin, DNS and the pod's ServiceAccount, as shipped. */
function kubeLine(count: number, result: KubeRoutesResult | string): string {
  return typeof result === 'string'
    ? `kube source with ${count} route(s): ${result}`
    : `kube source with ${count} route(s) (admin + DNS + ServiceAccount, after 200 requests): ${mbAnon(result.rssMb, result.anonMb)} MB RSS, ready in ${result.readyMs.toFixed(0)} ms`;
}

function targets(rows: Row[], extras: Extras): string[] {
  const detour = rows.find((r) => r.name === 'detour');
  const nginx = rows.find((r) => r.name === 'nginx');
  const relay = rows.find((r) => r.name === RELAY_ROW);
  if (detour === undefined || nginx === undefined) return [];
  const verdict = (value: number | undefined, max: number): string =>
    value !== undefined && value <= max ? 'pass' : 'MISS';
  const cpuRatio = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined || b === 0 ? undefined : a / b;
  const ready = median(extras.readyMs);
  const kubeMb = typeof extras.kube === 'string' ? undefined : extras.kube.rssMb;
  const podMb = typeof extras.kubeOne === 'string' ? undefined : extras.kubeOne.rssMb;
  /** A target's row: detour's value and verdict, then the Node relay's when it applies. */
  const target = (
    label: string,
    max: number,
    unit: (value: number | undefined) => string,
    pick?: (r: Row) => number | undefined,
    value?: number,
  ): string => {
    const ours = pick === undefined ? value : pick(detour);
    const floor = pick === undefined || relay === undefined ? undefined : pick(relay);
    const floorCell =
      pick === undefined || relay === undefined ? '-' : `${unit(floor)} ${verdict(floor, max)}`;
    return `| ${label} | ${unit(ours)} | ${unit(max)} | ${verdict(ours, max)} | ${floorCell} |`;
  };
  const megabytes = (value: number | undefined): string => `${mb(value)} MB`;
  const ms = (value: number | undefined): string => `${value?.toFixed(0) ?? '?'} ms`;
  return [
    '| target (issue 13) | detour | limit | | Node relay, no detour code (the floor) |',
    '| --- | --- | --- | --- | --- |',
    target('RSS idle', TARGETS.idleMb, megabytes, (r) => r.idleMb),
    target(
      'RSS idle as in a pod (kube source, 1 route, 200 requests served)',
      TARGETS.idleMb,
      megabytes,
      undefined,
      podMb,
    ),
    target(
      `RSS after ${SOAK_S} s of ${CONNECTIONS} connections`,
      TARGETS.soakMb,
      megabytes,
      (r) => r.soakMb,
    ),
    target(
      `RSS with ${KUBE_ROUTES} routes (kube source)`,
      TARGETS.kubeRoutesMb,
      megabytes,
      undefined,
      kubeMb,
    ),
    target('CPU/request vs nginx, saturation', TARGETS.cpuVsNginx, times, (r) =>
      cpuRatio(r.cpuSat, nginx.cpuSat),
    ),
    target(`CPU/request vs nginx, ${FIXED_RATE} req/s`, TARGETS.cpuVsNginx, times, (r) =>
      cpuRatio(r.cpuFixed, nginx.cpuFixed),
    ),
    target('start to ready (median)', TARGETS.readyMs, ms, undefined, ready),
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function times(value: number | undefined): string {
  return value === undefined ? '?' : `${value.toFixed(2)}x`;
}

function ratio(value: number | undefined, base: number | undefined): string {
  return value === undefined || base === undefined || base === 0
    ? ''
    : ` (${(value / base).toFixed(2)}x)`;
}

function mb(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(1);
}

function mbAnon(rss: number | undefined, anon: number | undefined): string {
  return rss === undefined ? '-' : `${mb(rss)} (${mb(anon)})`;
}

function us(value: number | undefined, base: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(1) + ratio(value, base);
}

function tableRow(r: Row, nginx: Row | undefined): string {
  return (
    `| ${r.name} | ${mbAnon(r.idleMb, r.idleAnonMb)} | ${mbAnon(r.soakMb, r.soakAnonMb)} | ${Math.round(r.rps)}${ratio(r.rps, nginx?.rps)} | ` +
    `${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${us(r.cpuSat, nginx?.cpuSat)} | ` +
    `${r.fixedP50.toFixed(3)} | ${r.fixedP99.toFixed(3)} | ${us(r.cpuFixed, nginx?.cpuFixed)} |`
  );
}
