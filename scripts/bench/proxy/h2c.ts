/**
 * The h2c rows of the proxy bench: unary gRPC over h2c (prior knowledge) to a
 * @grpc/grpc-js server, called directly, through detour (as injected) and through
 * nginx's `grpc_pass`, each proxy pinned to the proxy CPU; CPU per call from /proc of
 * the proxy and of the server. `BENCH_ONLY=h2c` runs these alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grpcLoadScript, grpcServerScript } from '../h2c-scripts.js';
import { BENCH_HOST, routeFile, startDetour } from './detour.js';
import { CONNECTIONS } from './load.js';
import { nginxPreamble } from './peers.js';
import { cpuSeconds, launch, LOAD_CPU, pidsOf, PROXY_CPU, stop, waitHttp } from './processes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface H2cPorts {
  grpcUpstream: number;
  detour: number;
  detourAdmin: number;
  nginx: number;
}

export interface H2cRow {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  /** CPU per call of the proxy in the path (undefined: direct). */
  proxyUs: number | undefined;
  /** CPU per call of the gRPC server itself. */
  serverUs: number;
}

export async function benchH2c(dir: string, ports: H2cPorts, seconds: number): Promise<H2cRow[]> {
  // The scripts import @grpc/grpc-js: resolve it from the repo's node_modules.
  if (!existsSync(join(dir, 'node_modules')))
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'grpc-server.mjs'), grpcServerScript(ports.grpcUpstream));
  const load = join(dir, 'grpc-load.mjs');
  writeFileSync(load, grpcLoadScript());
  const server = launch(
    LOAD_CPU,
    process.execPath,
    [join(dir, 'grpc-server.mjs')],
    join(dir, 'grpc-server.out'),
  );
  await waitTcp(ports.grpcUpstream);
  const serverPids = pidsOf(server.pid);
  const rows: H2cRow[] = [];
  rows.push(
    await measureH2c(load, 'direct (grpc-js server)', ports.grpcUpstream, serverPids, [], seconds),
  );
  const detour = startDetour(
    dir,
    'detour-h2c',
    `file:${routeFile(dir, 'routes-h2c.json', ports.grpcUpstream)}`,
    {
      listen: ports.detour,
      admin: ports.detourAdmin,
    },
  );
  await waitHttp(ports.detourAdmin, '/ready', BENCH_HOST);
  rows.push(
    await measureH2c(load, 'detour', ports.detour, serverPids, pidsOf(detour.pid), seconds),
  );
  await stop(detour);
  const nginx = startNginxGrpc(dir, ports);
  await waitTcp(ports.nginx);
  rows.push(
    await measureH2c(load, 'nginx grpc_pass', ports.nginx, serverPids, pidsOf(nginx.pid), seconds),
  );
  await stop(nginx);
  await stop(server);
  return rows;
}

async function measureH2c(
  script: string,
  name: string,
  port: number,
  serverPids: number[],
  proxyPids: number[],
  seconds: number,
): Promise<H2cRow> {
  await grpcLoad(script, port, 2); // warm-up: JIT, connections
  const proxyBefore = cpuSeconds(proxyPids);
  const serverBefore = cpuSeconds(serverPids);
  const load = await grpcLoad(script, port, seconds);
  const perCall = (s: number): number => (s * 1e6) / Math.max(1, load.requests);
  return {
    name,
    rps: load.requests / seconds,
    p50: load.p50,
    p99: load.p99,
    proxyUs: proxyPids.length === 0 ? undefined : perCall(cpuSeconds(proxyPids) - proxyBefore),
    serverUs: perCall(cpuSeconds(serverPids) - serverBefore),
  };
}

/** Runs the load generator on the load CPU; fails on any call that did not end in OK. */
async function grpcLoad(
  script: string,
  port: number,
  seconds: number,
): Promise<{ requests: number; p50: number; p99: number }> {
  const child: ChildProcess = spawn(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      process.execPath,
      script,
      String(port),
      BENCH_HOST,
      String(seconds),
      String(CONNECTIONS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
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

export function printH2c(rows: H2cRow[], seconds: number): string {
  const direct = rows.find((r) => r.name.startsWith('direct'));
  const detour = rows.find((r) => r.name === 'detour');
  const us = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(1));
  const lines = [
    `h2c, unary gRPC (5-byte messages): ${CONNECTIONS} calls in flight on one HTTP/2 connection for ${seconds}s; proxy on CPU ${PROXY_CPU}, grpc-js server + load on CPU ${LOAD_CPU}`,
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
      `target: detour CPU per call ${x.toFixed(2)}x the direct call's server side (<= 2) ${x <= 2 ? 'pass' : 'MISS'}`,
    );
  }
  return lines.join('\n');
}

function startNginxGrpc(dir: string, ports: H2cPorts): ChildProcess {
  const conf = join(dir, 'nginx-grpc.conf');
  writeFileSync(
    conf,
    `${nginxPreamble(dir, 'nginx-grpc', `${dir}/nginx-grpc-access.log`)}
  http2_max_requests 1000000;
  keepalive_requests 1000000;
  upstream grpcapp { server 127.0.0.1:${ports.grpcUpstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${ports.nginx} http2;
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
