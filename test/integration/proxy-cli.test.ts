import { expect } from 'chai';
import { until } from '../support/eventually.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { LOOPBACK_EPHEMERAL_PROXY_FLAGS, runDetour } from '../support/cli.js';
import { startProxyProcess } from '../support/proxy-process.js';
import { routablePod } from '../support/routable-pod.js';
import { startUpstream, tableResource, type TestUpstream } from '../support/upstream.js';
import { send, startProxy, type TestProxy } from '../support/proxy.js';
import { AdminServer } from '../../sidecar/admin-server.js';

describe('detour proxy command', function () {
  this.timeout(60_000);
  let dir: string;
  let up: TestUpstream;
  let file: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'detour-proxy-cli-'));
    up = await startUpstream('app', '127.0.0.7');
    file = join(dir, 'cluster.yaml');
    const pod = routablePod({
      name: 'my-application-1',
      namespace: 'my-namespace',
      ip: '127.0.0.7',
      ports: [up.port],
      hosts: 'my-application.my-namespace',
      paths: `${up.port}:/nodejs`,
    });
    writeFileSync(file, stringify(pod));
  });

  after(async () => {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = (): string[] => ['--source', `file:${file}`, ...LOOPBACK_EPHEMERAL_PROXY_FLAGS];

  it('serves routes from the file, logs each request on stdout, drains on SIGTERM and exits 0', async () => {
    const run = await startProxyProcess([...base(), '--drain-timeout', '10000']);
    try {
      const ready = await request(`${run.admin}/ready`);
      expect(ready.statusCode).to.equal(200);
      await ready.body.dump();
      const routes = (await (await request(`${run.admin}/routes`)).body.json()) as {
        routes: { id: string; endpoints: { key: string }[] }[];
      };
      expect(routes.routes.map((r) => r.id)).to.deep.equal(['my-application.my-namespace/nodejs']);
      const explained = (await (
        await request(
          `${run.admin}/routes/explain?url=${encodeURIComponent('http://my-application.my-namespace/nodejs/x')}`,
        )
      ).body.json()) as { outcome: string };
      expect(explained.outcome).to.equal('route');
      const metrics = await (await request(`${run.admin}/metrics`)).body.text();
      expect(metrics).to.contain('detour_proxy_routes 1');

      const r = await send(run.proxy, 'my-application.my-namespace', '/nodejs/hello', {
        headers: { 'x-request-id': 'cli-1' },
      });
      expect(r.status).to.equal(200);

      // A slow request in flight when SIGTERM arrives still completes.
      const slow = send(run.proxy, 'my-application.my-namespace', '/nodejs/delay/1500', {
        headers: { 'x-request-id': 'cli-drain' },
      });
      // Polled with a deadline, not slept: the request is in flight when the gauge says so,
      // and the proxy drains once it logged so.
      await until(async () => {
        const text = await (await request(`${run.admin}/metrics`)).body.text();
        return text.includes('detour_proxy_requests_in_flight 1');
      });
      run.child.kill('SIGTERM');
      await until(() => Promise.resolve(run.lines.some((l) => l.includes('"msg":"draining"'))));
      // Draining: no new connections, but the one in flight is answered.
      const late = await request(`${run.proxy}/nodejs/late`, {
        headers: { host: 'my-application.my-namespace' },
      }).then(
        () => 'answered',
        (err: unknown) => (err as { code?: string }).code ?? 'error',
      );
      expect(late).to.equal('ECONNREFUSED');
      expect((await slow).status).to.equal(200);
      expect(await run.exited).to.equal(0);
      const records = run.lines
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const hello = records.find((l) => l.requestId === 'cli-1');
      expect(hello).to.include({
        msg: 'request',
        method: 'GET',
        host: 'my-application.my-namespace',
        path: '/nodejs/hello',
        status: 200,
        route: 'my-application.my-namespace/nodejs',
        upstream: up.key,
      });
      expect(records.find((l) => l.requestId === 'cli-drain')).to.include({ status: 200 });
      expect(records.some((l) => l.msg === 'draining')).to.equal(true);
      const start = records.find((l) => l.msg === 'detour proxy starting');
      expect(start).to.have.nested.property('config.clientMaxBodySize', 0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('writes one human line per request with LOG_FORMAT=text', async () => {
    const run = await startProxyProcess(base(), { LOG_FORMAT: 'text' });
    try {
      await send(run.proxy, 'my-application.my-namespace', '/nodejs/t', {
        headers: { 'x-request-id': 'text-1' },
      });
      run.child.kill('SIGTERM');
      await run.exited;
      const line = run.lines.find((l) => l.includes('requestId=text-1')) ?? '';
      expect(line).to.match(
        /^\S+Z INFO request method=GET host=my-application.my-namespace path=\/nodejs\/t status=200 /,
      );
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('stops at start on an invalid knob, naming it', async () => {
    const r = await runDetour(['proxy', ...base()], { env: { CLIENT_MAX_BODY_SIZE: 'lots' } });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('CLIENT_MAX_BODY_SIZE');
    expect(r.stderr).to.contain('DETOUR_E_BAD_KNOB');
  });

  it('requires --source outside a cluster and refuses an unknown one', async () => {
    const missing = await runDetour(['proxy'], { env: { KUBERNETES_SERVICE_HOST: '' } });
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain('--source');
    const bad = await runDetour(['proxy', '--source', 'ftp://x']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('expected kube or file:PATH');
  });
});

describe('admin server', () => {
  let p: TestProxy;
  let admin: AdminServer;
  let origin: string;
  let up: TestUpstream;

  before(async () => {
    up = await startUpstream('admin-up', '127.0.0.8');
    p = await startProxy();
    admin = new AdminServer(p.proxy, 'test');
    const address = await admin.listen(0, '127.0.0.1');
    origin = `http://127.0.0.1:${address.port}`;
  });

  after(async () => {
    await admin.close();
    await p.close();
    await up.close();
  });

  it('says /ready only after the first complete table, /healthz always', async () => {
    // startProxy marks ready; a fresh proxy that has no table yet is not ready.
    const fresh = await startProxy({ ready: false });
    const freshAdmin = new AdminServer(fresh.proxy, 'test');
    const address = await freshAdmin.listen(0, '127.0.0.1');
    try {
      const notYet = await request(`http://127.0.0.1:${address.port}/ready`);
      expect(notYet.statusCode).to.equal(503);
      await notYet.body.dump();
      const health = await request(`http://127.0.0.1:${address.port}/healthz`);
      expect(health.statusCode).to.equal(200);
      await health.body.dump();
      fresh.setResources([]);
      fresh.proxy.markReady();
      const now = await request(`http://127.0.0.1:${address.port}/ready`);
      expect(now.statusCode).to.equal(200);
      await now.body.dump();
    } finally {
      await freshAdmin.close();
      await fresh.close();
    }
    const ready = await request(`${origin}/ready`);
    expect(ready.statusCode).to.equal(200);
    await ready.body.dump();
  });

  it('serves the table and explanations', async () => {
    p.setResources([tableResource('ns', [{ host: 'x.ns', path: '/api', upstreams: [up] }])]);
    const routes = (await (await request(`${origin}/routes`)).body.json()) as {
      routeCount: number;
      routes: { id: string }[];
    };
    expect(routes.routeCount).to.equal(1);
    expect(routes.routes[0]?.id).to.equal('x.ns/api');
    const explained = (await (
      await request(`${origin}/routes/explain?url=http://x.ns/other`)
    ).body.json()) as {
      outcome: string;
    };
    expect(explained.outcome).to.equal('unknown-path');
    const missing = await request(`${origin}/routes/explain`);
    expect(missing.statusCode).to.equal(400);
    await missing.body.dump();
  });
});
