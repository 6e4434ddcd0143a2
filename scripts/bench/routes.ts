/**
 * Rules-side figures: compile time, table build time, match cost and table memory at
 * 10,000 routes: `npm run bench -- routes` (the bench script runs with --expose-gc so the
 * heap figure is measured after a full collection).
 */
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { RouteTable } from '../../sidecar/route-table.js';

const PODS = 2_000;
const HOSTS_PER_POD = 5;
const MATCHES = 1_000_000;

function pods(): V1Pod[] {
  // 2,000 pods in 100 namespaces, 5 hosts x 1 path each: 10,000 routes.
  return Array.from({ length: PODS }, (_, i) => {
    const ns = `ns-${i % 100}`;
    const hosts = Array.from({ length: HOSTS_PER_POD }, (_, h) => `app-${i}-${h}.${ns}`).join(' ');
    const pod: unknown = {
      metadata: {
        name: `pod-${i}`,
        namespace: ns,
        labels: { routable: 'true' },
        annotations: { privateHosts: hosts, privatePaths: `3000:/api/v${i % 3}` },
        creationTimestamp: '2024-01-01T00:00:00Z',
      },
      spec: { containers: [{ name: 'app', ports: [{ containerPort: 3000 }] }] },
      status: {
        phase: 'Running',
        podIP: `127.0.${Math.floor(i / 250)}.${i % 250}`,
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    };
    return pod as V1Pod;
  });
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function heapMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

export function run(): Promise<void> {
  const config = loadPlaneConfig('private', {});
  const input = { pods: pods(), secrets: [] };
  compile(input, config); // warm up
  let t = process.hrtime.bigint();
  const resources = compile(input, config);
  const compileMs = ms(t);

  const before = heapMiB();
  t = process.hrtime.bigint();
  const table = RouteTable.fromResources(resources);
  const buildMs = ms(t);
  const tableMiB = heapMiB() - before;

  const measure = (hostOf: (i: number) => string, pathOf: (i: number) => string): string => {
    // Flat strings, as the HTTP parser hands them over.
    const requests = Array.from({ length: 1000 }, (_, i) =>
      [hostOf(i), pathOf(i)].map((x) => JSON.parse(JSON.stringify(x)) as string),
    );
    let hits = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < MATCHES; i++) {
      const request = requests[i % requests.length];
      if (
        request !== undefined &&
        table.match(request[0] ?? '', request[1] ?? '').kind === 'route'
      ) {
        hits++;
      }
    }
    return `${((ms(start) * 1e6) / MATCHES).toFixed(0)} ns/op (${hits} hits)`;
  };
  const typical = measure(
    (i) => `app-${i}-${i % HOSTS_PER_POD}.ns-${i % 100}`,
    (i) => `/api/v${i % 3}/users/${i}`,
  );
  const worst = measure(
    (i) => `APP-${i}-${i % HOSTS_PER_POD}.ns-${i % 100}.:8080`,
    (i) => `//api/v${i % 3}/./users/${i}/?q=1`,
  );

  const rows = [
    ['pods / routes', `${PODS} / ${table.routeCount}`],
    ['compile (pods -> RouteTables)', `${compileMs.toFixed(1)} ms`],
    ['RouteTable.fromResources', `${buildMs.toFixed(1)} ms`],
    ['table heap', `${tableMiB.toFixed(1)} MiB`],
    ['match, Host lower-case, clean path', typical],
    ['match, Host upper-case:port, // ./ ?q', worst],
  ];
  for (const [k, v] of rows) process.stdout.write(`${(k ?? '').padEnd(40)} ${v ?? ''}\n`);
  return Promise.resolve();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
