/**
 * The controller's memory measured from outside (issue 13): the bundled `detour
 * controller` as the image runs it (dist/detour.js, the manifest's args and env),
 * against the API-server double holding 10,000 realistic routable pods (about 8 KiB
 * each with managedFields, bench/convergence/realistic-pod.ts) in 500 namespaces. RSS
 * from /proc after the first sync, and after a rollout-like churn of pods replaced
 * one by one. Target: <= 300 MB, steady under churn.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { parse } from 'yaml';
import { buildBundles } from '../../build.js';
import { ApiServerDouble } from '../../../test/support/api-server/server.js';
import { findResource } from '../../../test/support/api-server/resources.js';
import { realisticPod } from './realistic-pod.js';

const NAMESPACES = 500;
const PODS_PER_NAMESPACE = 20;
const CHURN = Number(process.env.BENCH_CHURN ?? 500);
const METRICS_PORT = 28095;
const TARGET_MB = 300;
/** The controller's Node flags as the manifest sets them (BENCH_CONTROLLER_NODE_OPTIONS to try others). */
const CONTROLLER_NODE_OPTIONS =
  process.env.BENCH_CONTROLLER_NODE_OPTIONS ?? manifestNodeOptions('controller');

export interface ControllerMemory {
  pods: number;
  podKiB: number;
  syncMs: number;
  afterSyncMb: number;
  afterChurnMb: number;
  churn: number;
}

export async function controllerMemory(): Promise<ControllerMemory> {
  const dir = mkdtempSync(join(tmpdir(), 'detour-controller-mem-'));
  const double = await ApiServerDouble.start({ bookmarkIntervalMs: 5_000 });
  try {
    await buildBundles(join(dir, 'dist'));
    let bytes = 0;
    for (let n = 0; n < NAMESPACES; n++) {
      for (let p = 0; p < PODS_PER_NAMESPACE; p++) {
        const pod = realisticPod(`ns-${n}`, `web-7d9f8c6b5-${p}`, ipOf(n * 100 + p), host(n));
        bytes += JSON.stringify(pod).length;
        double.seed(pod);
      }
    }
    const pods = NAMESPACES * PODS_PER_NAMESPACE;
    writeFileSync(join(dir, 'kubeconfig'), double.kubeConfigYaml());
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        join(dir, 'dist/detour.js'),
        'controller',
        '--plane',
        'private',
        '--metrics-port',
        String(METRICS_PORT),
      ],
      {
        env: {
          ...process.env,
          KUBECONFIG: join(dir, 'kubeconfig'),
          LOG_FORMAT: 'json',
          LOG_LEVEL: 'warn',
          NODE_OPTIONS: CONTROLLER_NODE_OPTIONS,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    try {
      await ready(started);
      await settled(double);
      const syncMs = performance.now() - started;
      const afterSyncMb = rssMb(child.pid);
      // A rollout: each pod in turn replaced by a new one (new name, new IP).
      const podDef = findResource('Pod');
      for (let i = 0; i < CHURN; i++) {
        const n = i % NAMESPACES;
        const p = Math.floor(i / NAMESPACES) % PODS_PER_NAMESPACE;
        double.store.delete(podDef, `ns-${n}`, `web-7d9f8c6b5-${p}`);
        double.seed(realisticPod(`ns-${n}`, `web-7d9f8c6b5-${p}`, ipOf(50_000 + i), host(n)));
        if (i % 25 === 0) await new Promise((r) => setTimeout(r, 20));
      }
      await settled(double);
      return {
        pods,
        podKiB: bytes / pods / 1024,
        syncMs,
        afterSyncMb,
        afterChurnMb: rssMb(child.pid),
        churn: CHURN,
      };
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  } finally {
    await double.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function controllerMemoryLines(m: ControllerMemory): string[] {
  const ok = m.afterSyncMb <= TARGET_MB && m.afterChurnMb <= TARGET_MB;
  return [
    `controller memory (bundled detour controller, NODE_OPTIONS=${CONTROLLER_NODE_OPTIONS}, measured from outside): ${m.pods} pods of ${m.podKiB.toFixed(1)} KiB in ${NAMESPACES} namespaces`,
    `  start to synced: ${m.syncMs.toFixed(0)} ms; RSS after first sync ${m.afterSyncMb.toFixed(0)} MB, after ${m.churn} pods replaced ${m.afterChurnMb.toFixed(0)} MB`,
    `  target <= ${TARGET_MB} MB, steady under churn: ${ok ? 'pass' : 'MISS'}`,
  ];
}

/** NODE_OPTIONS of a container of manifests/base/deployment.yaml ('' when unset). */
function manifestNodeOptions(container: string): string {
  const path = fileURLToPath(new URL('../../../manifests/base/deployment.yaml', import.meta.url));
  const deployment = parse(readFileSync(path, 'utf8')) as {
    spec: {
      template: {
        spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] };
      };
    };
  };
  const found = deployment.spec.template.spec.containers.find((c) => c.name === container);
  return found?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

function host(n: number): string {
  return `svc-${n}.ns-${n}`;
}

function ipOf(i: number): string {
  return `198.18.${Math.floor(i / 250) % 256}.${(i % 250) + 1}`;
}

async function ready(started: number): Promise<void> {
  for (;;) {
    try {
      const res = await request(`http://127.0.0.1:${METRICS_PORT}/ready`);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > 120_000) throw new Error('bench: controller not ready');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Until the double has seen no write for a second (the controller caught up). */
async function settled(double: ApiServerDouble): Promise<void> {
  const total = (): number => Object.values(double.counters.writes).reduce((a, b) => a + b, 0);
  let last = -1;
  while (total() !== last) {
    last = total();
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function rssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}
