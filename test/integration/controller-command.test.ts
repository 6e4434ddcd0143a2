import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { request } from 'undici';
import { ApiServerDouble } from '../support/api-server/server.js';
import { findResource } from '../support/api-server/resources.js';
import { KubeTestClient, eventually } from '../support/api-server/kube-test-client.js';
import {
  detourArgv,
  LOOPBACK_EPHEMERAL_PROXY_FLAGS,
  REPO_ROOT,
  runDetour,
} from '../support/cli.js';

interface Running {
  child: ChildProcess;
  records: Record<string, unknown>[];
  exited: Promise<number | null>;
}

function start(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, detourArgv(args), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{')) records.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, records, exited };
}

describe('detour controller and detour proxy --source kube (processes, against the double)', function () {
  this.timeout(60_000);
  let double: ApiServerDouble;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    double = await ApiServerDouble.start({ bookmarkIntervalMs: 500 });
    const dir = mkdtempSync(join(tmpdir(), 'detour-kube-'));
    const kubeconfig = join(dir, 'config');
    writeFileSync(kubeconfig, double.kubeConfigYaml());
    env = { KUBECONFIG: kubeconfig, LOG_LEVEL: 'info', LOG_FORMAT: 'json' };
    await new KubeTestClient(double.kubeConfig()).createPod({
      namespace: 'shop',
      name: 'web-1',
      ip: '127.0.0.31',
      hosts: 'web.shop',
      paths: '8080:/',
    });
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await double.close();
  });

  it('syncs, writes RouteTables, serves /ready and /metrics, and stops on SIGTERM', async () => {
    const controller = start(['controller', '--metrics-port', '0'], env);
    children.push(controller.child);
    const started = await eventually(
      () => controller.records.find((r) => r.msg === 'detour controller starting'),
      'the start line',
      20_000,
    );
    await eventually(
      () => controller.records.find((r) => r.msg === 'controller synced'),
      'synced',
      20_000,
    );
    const base = `http://127.0.0.1:${String(started.metrics)}`;
    expect((await request(`${base}/ready`)).statusCode).to.equal(200);
    expect((await request(`${base}/healthz`)).statusCode).to.equal(200);
    const metrics = await (await request(`${base}/metrics`)).body.text();
    expect(metrics).to.match(/^detour_controller_compiles_total [1-9]/m);
    expect(metrics).to.match(/^detour_controller_route_tables 1$/m);
    expect(metrics).to.match(/^detour_controller_applies_total\{operation="apply"\} 1$/m);
    expect(double.store.list(routeTables())).to.have.length(1);

    const proxy = start(['proxy', '--source', 'kube', ...LOOPBACK_EPHEMERAL_PROXY_FLAGS], env);
    children.push(proxy.child);
    const proxyStart = await eventually(
      () => proxy.records.find((r) => r.msg === 'detour proxy starting'),
      'the proxy start line',
      20_000,
    );
    await eventually(() => proxy.records.find((r) => r.msg === 'ready'), 'proxy ready', 20_000);
    const admin = `http://${String(proxyStart.admin)}`;
    expect((await request(`${admin}/ready`)).statusCode).to.equal(200);
    const routes = (await (await request(`${admin}/routes`)).body.json()) as {
      routes: { id: string }[];
    };
    expect(routes.routes.map((r) => r.id)).to.deep.equal(['web.shop/']);

    controller.child.kill('SIGTERM');
    expect(await controller.exited).to.equal(0);
  });

  it('refuses a bad --plane and an environment without any cluster', async () => {
    const bad = await runDetour(['controller', '--plane', 'mars'], { env });
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('DETOUR_E_BAD_FLAG');
    const home = mkdtempSync(join(tmpdir(), 'detour-home-'));
    const none = await runDetour(['controller', '--metrics-port', '0'], {
      env: { KUBECONFIG: '', HOME: home, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' },
    });
    expect(none.code, none.stderr + none.stdout).to.equal(1);
    expect(none.stderr).to.contain('DETOUR_E_KUBE');
  });
});

function routeTables() {
  return findResource('RouteTable');
}
