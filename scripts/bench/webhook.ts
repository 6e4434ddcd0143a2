/**
 * `npm run bench -- webhook`: admission latency of the real `detour webhook` process
 * over HTTPS on loopback, at a fixed request rate (open loop: requests are sent on
 * schedule whether or not earlier ones have finished, so a slow server shows up as
 * latency rather than as a lower rate). Two pods: one container, and ten containers with
 * env, ports, probes and volumes. Latency is measured from send to the last byte of the
 * response, so it includes TLS record processing and JSON both ways.
 * Knobs: BENCH_WEBHOOK_RATE (req/s, default 200), BENCH_WEBHOOK_SECONDS (default 10).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { createSelfSignedBundle, serviceDnsNames } from '../../webhook/certificates.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RATE = Number(process.env.BENCH_WEBHOOK_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_WEBHOOK_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const TARGET_P99_MS = 5;

function container(i: number): object {
  return {
    name: `app-${i}`,
    image: `registry.example/app-${i}:1.0.${i}`,
    args: ['serve', '--port', String(8080 + i)],
    env: [
      { name: 'MODE', value: 'production' },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    ports: [{ name: `http-${i}`, containerPort: 8080 + i }],
    readinessProbe: { httpGet: { path: '/healthz', port: 8080 + i }, periodSeconds: 5 },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    volumeMounts: [{ name: 'data', mountPath: `/data/${i}` }],
  };
}

function review(containers: number, seq: number): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `bench-${containers}-${seq}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'bench',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          generateName: 'web-5d8f7c-',
          labels: { app: 'web', 'pod-template-hash': '5d8f7c' },
          annotations: { 'detour.dev/capture-ports': '80,8080-8090' },
        },
        spec: {
          containers: Array.from({ length: containers }, (_, i) => container(i)),
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
      dryRun: false,
    },
  });
}

interface Result {
  pod: string;
  sent: number;
  ok: number;
  p50: number;
  p99: number;
  max: number;
  achievedRate: number;
  /** The server's own p99 (request to response, without TLS), as its histogram bucket's upper bound, ms. */
  serverP99: number;
  /** The webhook process's CPU time (user + system) per request, µs. */
  cpuUsPerRequest: number;
}

const children: ChildProcess[] = [];

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'detour-bench-webhook-'));
  try {
    await bench(dir);
  } finally {
    for (const child of children) await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** SIGTERM (the webhook drains and exits, writing a --cpu-prof profile if asked), then SIGKILL. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function bench(dir: string): Promise<void> {
  const bundle = await createSelfSignedBundle({ dnsNames: serviceDnsNames('detour-system') });
  writeFileSync(join(dir, 'tls.crt'), bundle.certPem);
  writeFileSync(join(dir, 'tls.key'), bundle.keyPem);
  const port = await startWebhook(dir);
  const pid = children[0]?.pid ?? 0;
  const agent = new Agent({
    connect: { ca: bundle.caPem, servername: serviceDnsNames('detour-system')[2] },
    connections: 8,
    keepAliveTimeout: 30_000,
  });
  const url = `https://127.0.0.1:${port}/mutate`;
  try {
    process.stdout.write(
      `detour webhook, HTTPS on loopback, ${RATE} req/s for ${SECONDS} s per pod (after ${WARMUP_SECONDS} s warm-up)\n\n`,
    );
    const results: Result[] = [];
    const metricsUrl = `https://127.0.0.1:${port}/metrics`;
    for (const containers of [1, 10]) {
      await load(url, agent, containers, RATE, WARMUP_SECONDS);
      const before = await buckets(metricsUrl, agent);
      const cpuBefore = cpuSeconds(pid);
      const result = await load(url, agent, containers, RATE, SECONDS);
      const cpu = cpuSeconds(pid) - cpuBefore;
      const after = await buckets(metricsUrl, agent);
      results.push({
        ...result,
        serverP99: bucketQuantile(before, after, 0.99) * 1000,
        cpuUsPerRequest: (cpu * 1e6) / result.sent,
      });
    }
    printTable(results);
  } finally {
    await agent.close();
  }
}

function startWebhook(dir: string): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'bin/detour.ts'),
      'webhook',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--tls-cert',
      join(dir, 'tls.crt'),
      '--tls-key',
      join(dir, 'tls.key'),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      reject(new Error(`webhook did not start: ${out}`));
    }, 30_000);
    let port: number | undefined;
    // The log is drained (one info line per injected pod, as in production) but only
    // kept until the "listening" line has shown the port.
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (port !== undefined) return;
      out += d;
      const match = /"port":(\d+)/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        port = Number(match[1]);
        resolve(port);
      }
    });
    child.on('exit', (code) => {
      if (port !== undefined) return;
      clearTimeout(timer);
      reject(new Error(`webhook exited with ${String(code)}: ${out}`));
    });
  });
}

async function load(
  url: string,
  agent: Agent,
  containers: number,
  rate: number,
  seconds: number,
): Promise<Omit<Result, 'serverP99' | 'cpuUsPerRequest'>> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const bodies = Array.from({ length: 50 }, (_, i) => review(containers, i));
  const latencies: number[] = [];
  let ok = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; i += 1) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = bodies[i % bodies.length] ?? '';
    const sent = performance.now();
    inFlight.push(
      request(url, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(async (res) => {
        const text = await res.body.text();
        latencies.push(performance.now() - sent);
        if (res.statusCode === 200 && text.includes('"patchType":"JSONPatch"')) ok += 1;
      }),
    );
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    pod: `${containers} container${containers === 1 ? '' : 's'}`,
    sent: total,
    ok,
    p50: pct(0.5),
    p99: pct(0.99),
    max: latencies[latencies.length - 1] ?? NaN,
    achievedRate: total / elapsed,
  };
}

/** utime + stime of a process from /proc/PID/stat (Linux), in seconds. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Cumulative counts of the injected-latency histogram, by bucket upper bound (s). */
async function buckets(url: string, agent: Agent): Promise<Map<number, number>> {
  const res = await request(url, { dispatcher: agent });
  const text = await res.body.text();
  const out = new Map<number, number>();
  const re =
    /detour_webhook_admission_duration_seconds_bucket\{le="([^"]+)",result="injected"\} (\d+)/g;
  for (const m of text.matchAll(re)) {
    out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  }
  return out;
}

function bucketQuantile(
  before: Map<number, number>,
  after: Map<number, number>,
  q: number,
): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of bounds) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return le;
  }
  return Infinity;
}

function printTable(results: Result[]): void {
  const header = [
    'pod',
    'requests',
    'injected',
    'req/s',
    'p50 ms',
    'p99 ms',
    'max ms',
    `p99 < ${TARGET_P99_MS} ms`,
    'server p99 ms',
    'CPU µs/req',
  ];
  const rows = results.map((r) => [
    r.pod,
    String(r.sent),
    String(r.ok),
    r.achievedRate.toFixed(0),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(2),
    r.p99 < TARGET_P99_MS ? 'yes' : 'NO',
    `<= ${String(r.serverP99)}`,
    r.cpuUsPerRequest.toFixed(0),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ') + '\n';
  process.stdout.write(line(header));
  process.stdout.write(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) process.stdout.write(line(row));
  process.stdout.write(
    `\nload average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )} on ${os.cpus().length} CPUs: a p99 far above the server's own p99 is time spent waiting for a CPU.\n`,
  );
}
