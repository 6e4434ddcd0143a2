/**
 * `npm run bench -- convergence`: how fast rules in the API server reach a proxy.
 *
 * 1. Convergence: 200 times, a not-ready routable pod is reported Ready (PUT status to
 *    the API-server double, as the kubelet does), and we time until the proxy has a
 *    table routing to it and until a request through the proxy first succeeds:
 *    controller (watch, adaptive debounce, compile, server-side apply) -> RouteTable
 *    watch -> kube source -> ProxyServer.setTable -> undici -> upstream. Target: p99
 *    <= 200 ms (issue 13).
 * 2. Full sync: 10,000 routable pods across 500 namespaces; time and memory for the
 *    controller's first sync (list, compile, 500 applies + 500 status applies) and for a
 *    proxy's first table (list 500 RouteTables, build). Target: controller <= 3 s.
 * 3. Controller memory from outside (convergence/controller-memory.ts): the bundled
 *    controller with 10,000 realistic pods, after sync and after churn. <= 300 MB.
 *
 * Everything runs in this one process over real HTTPS on loopback, with the real client
 * library; memory figures are process-wide deltas and so include the double's store.
 */
import { Writable } from 'node:stream';
import { Controller } from '../../controller/controller.js';
import { createLogger } from '../../shared/logger.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { KubeSource } from '../../sidecar/sources/kube-source.js';
import type { RouteTable } from '../../sidecar/route-table.js';
import { ApiServerDouble } from '../../test/support/api-server/server.js';
import {
  KubeTestClient,
  podStatus,
  routablePod,
} from '../../test/support/api-server/kube-test-client.js';
import type { KubeObject } from '../../test/support/api-server/resources.js';
import { send, startProxy } from '../../test/support/proxy.js';
import { startUpstream } from '../../test/support/upstream.js';
import { controllerMemory, controllerMemoryLines } from './convergence/controller-memory.js';

const CHANGES = 200;
const SYNC_NAMESPACES = 500;
const PODS_PER_NAMESPACE = 20;
const KNOBS = { backoffInitialMs: 100, backoffMaxMs: 1_000 };

const quiet = createLogger({
  level: 'warn',
  destination: new Writable({
    write(chunk: Buffer, _enc, cb) {
      process.stderr.write(chunk);
      cb();
    },
  }),
});

/** Memory after a full GC when `npm run bench` gives us one (it runs with --expose-gc). */
function memory(): NodeJS.MemoryUsage {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage();
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const ms = (n: number): string => `${n.toFixed(0)} ms`;

function ipOf(i: number): string {
  return `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function podObject(namespace: string, name: string, ip: string, host: string): KubeObject {
  const pod = routablePod({
    namespace,
    name,
    ip,
    hosts: host,
    paths: '8080:/',
  }) as unknown as KubeObject;
  pod.status = podStatus(ip, true);
  return pod;
}

function routesTo(table: RouteTable, host: string, ip: string): boolean {
  const match = table.match(host, '/');
  return match.kind === 'route' && match.route.endpoints.some((e) => e.ip === ip);
}

async function convergence(): Promise<void> {
  const double = await ApiServerDouble.start({ bookmarkIntervalMs: 1_000 });
  const config = loadPlaneConfig('private', {});
  const client = new KubeTestClient(double.kubeConfig());
  // Every pod is served by one real upstream; each has its own host, so "routes to it"
  // means "its host answers 200 through the proxy". Gateway mode answers an unknown host
  // with 404 at once (sidecar mode would try DNS for it).
  const upstream = await startUpstream('app', '127.0.0.61');
  const proxy = await startProxy({ mode: 'gateway' });
  for (let i = 0; i < CHANGES; i++) {
    await client.createPod({
      namespace: `ns-${i % 20}`,
      name: `pod-${i}`,
      ip: upstream.host,
      ports: [upstream.port],
      hosts: `svc-${i}.ns-${i % 20}`,
      paths: `${upstream.port}:/`,
      ready: false,
    });
  }
  const controller = new Controller({
    kubeConfig: double.kubeConfig(),
    config,
    logger: quiet,
    knobs: KNOBS,
  });
  await controller.start();
  const source = new KubeSource({
    config,
    kubeConfig: double.kubeConfig(),
    logger: quiet,
    knobs: KNOBS,
  });
  let waiter: { host: string; resolve: () => void } | undefined;
  await source.start((table) => {
    proxy.proxy.setTable(table);
    if (waiter !== undefined && routesTo(table, waiter.host, upstream.host)) waiter.resolve();
  });
  const tableSamples: number[] = [];
  const requestSamples: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const host = `svc-${i}.ns-${i % 20}`;
    const delivered = new Promise<void>((resolve) => {
      waiter = { host, resolve };
    });
    const started = performance.now();
    await client.setPodStatus(`ns-${i % 20}`, `pod-${i}`, upstream.host, true);
    // Poll through the proxy until the new pod answers (bounded: 10 s).
    const requestDone = (async () => {
      for (let attempt = 0; attempt < 2_000; attempt++) {
        if ((await send(proxy.origin, host, '/')).status === 200) return performance.now();
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`change ${i} did not converge in 10 s`);
    })();
    await delivered;
    tableSamples.push(performance.now() - started);
    requestSamples.push((await requestDone) - started);
  }
  await source.stop();
  await controller.stop();
  await proxy.close();
  await upstream.close();
  await double.close();
  const line = (name: string, samples: number[]): string => {
    const sorted = [...samples].sort((a, b) => a - b);
    return `  ${name.padEnd(22)} p50 ${ms(percentile(sorted, 50))}   p90 ${ms(percentile(sorted, 90))}   p99 ${ms(percentile(sorted, 99))}   max ${ms(sorted.at(-1) ?? NaN)}`;
  };
  const p99 = percentile(
    [...requestSamples].sort((a, b) => a - b),
    99,
  );
  process.stdout.write(
    [
      `convergence: pod Ready (PUT status) -> proxy routes to it, ${CHANGES} changes (adaptive debounce, at most 250 ms)`,
      line('table in the proxy', tableSamples),
      line('first 200 response', requestSamples),
      `  target p99 <= 200 ms (issue 13): ${p99 <= 200 ? 'pass' : 'MISS'}`,
      '',
    ].join('\n'),
  );
}

async function fullSync(): Promise<void> {
  const double = await ApiServerDouble.start({ bookmarkIntervalMs: 5_000 });
  const config = loadPlaneConfig('private', {});
  for (let n = 0; n < SYNC_NAMESPACES; n++) {
    for (let p = 0; p < PODS_PER_NAMESPACE; p++) {
      const i = n * PODS_PER_NAMESPACE + p;
      double.seed(podObject(`ns-${n}`, `pod-${p}`, ipOf(i), `svc-${n}.ns-${n}`));
    }
  }
  const pods = SYNC_NAMESPACES * PODS_PER_NAMESPACE;
  const before = memory();
  const controllerStart = performance.now();
  const controller = new Controller({
    kubeConfig: double.kubeConfig(),
    config,
    logger: quiet,
    knobs: KNOBS,
  });
  await controller.start();
  const controllerMs = performance.now() - controllerStart;
  const afterController = memory();
  const writes = await controller.metrics.applies.get();
  const count = (operation: string): number =>
    writes.values.find((v) => v.labels.operation === operation)?.value ?? 0;

  const sourceStart = performance.now();
  const source = new KubeSource({
    config,
    kubeConfig: double.kubeConfig(),
    logger: quiet,
    knobs: KNOBS,
  });
  let table: RouteTable | undefined;
  await source.start((t) => {
    table = t;
  });
  const sourceMs = performance.now() - sourceStart;
  const afterSource = memory();
  const endpoints = table?.toJSON() as { routes?: { endpoints: unknown[] }[] } | undefined;
  const endpointCount = (endpoints?.routes ?? []).reduce((sum, r) => sum + r.endpoints.length, 0);
  await source.stop();
  await controller.stop();
  await double.close();
  const total = controllerMs + sourceMs;
  process.stdout.write(
    [
      `full sync: ${pods} routable pods in ${SYNC_NAMESPACES} namespaces`,
      `  controller: list + compile + ${count('apply')} applies + ${count('apply-status')} status applies: ${ms(controllerMs)}, heap +${mb(afterController.heapUsed - before.heapUsed)}, rss +${mb(afterController.rss - before.rss)}`,
      `  proxy: list ${SYNC_NAMESPACES} RouteTables + build (${table?.routeCount ?? 0} routes, ${endpointCount} endpoints): ${ms(sourceMs)}, heap +${mb(afterSource.heapUsed - afterController.heapUsed)}, rss +${mb(afterSource.rss - afterController.rss)}`,
      `  rss at end ${mb(afterSource.rss)}; target: controller <= 3000 ms (issue 13): ${controllerMs <= 3_000 ? 'pass' : 'MISS'}; both < 10000 ms: ${total < 10_000 ? 'pass' : 'MISS'} (${ms(total)})`,
      '',
    ].join('\n'),
  );
}

export async function run(): Promise<void> {
  await convergence();
  await fullSync();
  process.stdout.write(controllerMemoryLines(await controllerMemory()).join('\n') + '\n');
}
