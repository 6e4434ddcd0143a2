import { expect } from 'chai';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { AdminServer } from '../../sidecar/admin-server.js';
import { AppHealth } from '../../sidecar/app-health.js';
import type { AppProbes } from '../../shared/app-probes.js';
import { createSelfSignedBundle } from '../../webhook/certificates.js';
import {
  detourArgv,
  LOOPBACK_EPHEMERAL_PROXY_FLAGS,
  REPO_ROOT,
  runDetour,
} from '../support/cli.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
}

/** The app: answers /healthz 200, /fail 500, /moved 302, /hang never; records what it saw. */
function appHandler(seen: Seen[]): http.RequestListener {
  return (req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    if (req.url === '/hang') return;
    const status = req.url === '/fail' ? 500 : req.url === '/moved' ? 302 : 200;
    res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {}).end('app');
  };
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
    server.close(() => {
      resolve();
    });
  });
}

describe('app probes on the admin port (/app-health)', function () {
  this.timeout(30_000);
  const seen: Seen[] = [];
  let app: http.Server;
  let secure: https.Server;
  let raw: net.Server;
  let appPort: number;
  let p: TestProxy;
  let admin: AdminServer;
  let origin: string;

  const probe = async (name: string): Promise<{ status: number; body: unknown }> => {
    const res = await request(`${origin}/app-health/${name}`, {
      headers: { 'user-agent': 'kube-probe/1.31', accept: '*/*' },
    });
    return { status: res.statusCode, body: await res.body.json() };
  };

  before(async () => {
    app = http.createServer(appHandler(seen));
    appPort = await listen(app);
    const bundle = await createSelfSignedBundle({ dnsNames: ['web.shop'] });
    secure = https.createServer({ cert: bundle.certPem, key: bundle.keyPem }, appHandler(seen));
    const securePort = await listen(secure);
    raw = net.createServer((socket) => socket.end());
    const rawPort = await listen(raw);

    const probes: AppProbes = {
      'web/livez': {
        httpGet: {
          port: appPort,
          path: '/healthz',
          httpHeaders: [
            { name: 'Host', value: 'web.shop' },
            { name: 'X-Probe', value: 'a' },
            { name: 'x-probe', value: 'b' },
          ],
        },
      },
      'web/readyz': { tcpSocket: { port: appPort } },
      'web/startupz': { httpGet: { port: securePort, path: 'healthz', scheme: 'HTTPS' } },
      'worker/livez': { httpGet: { port: appPort, path: '/fail' } },
      'worker/readyz': { httpGet: { port: appPort, path: '/moved' } },
      'worker/startupz': { httpGet: { port: appPort, path: '/hang' }, timeoutSeconds: 1 },
      'raw/livez': { tcpSocket: { port: rawPort } },
    };
    p = await startProxy();
    // The probes go straight to the app: the proxy's table (and any API key) is not consulted.
    admin = new AdminServer(p.proxy, 'test', new AppHealth(probes, '127.0.0.1'));
    origin = `http://127.0.0.1:${(await admin.listen(0, '127.0.0.1')).port}`;
  });

  after(async () => {
    await admin.close();
    await p.close();
    await Promise.all([close(app), close(secure), close(raw)]);
  });

  it('answers 200 while the app serves, sending the probe as the kubelet would', async () => {
    seen.length = 0;
    const r = await probe('web/livez');
    expect(r.status).to.equal(200);
    expect(seen).to.have.length(1);
    expect(seen[0]!.path).to.equal('/healthz');
    expect(seen[0]!.headers.host).to.equal('web.shop');
    expect(seen[0]!.headers['x-probe']).to.equal('a, b');
    expect(seen[0]!.headers['user-agent']).to.equal('kube-probe/1.31');
    expect(seen[0]!.headers.accept).to.equal('*/*');
  });

  it('probes HTTPS without verifying the certificate, adding the leading slash', async () => {
    seen.length = 0;
    expect((await probe('web/startupz')).status).to.equal(200);
    expect(seen[0]!.path).to.equal('/healthz');
  });

  it('counts 200-399 as success and anything else as failure', async () => {
    expect((await probe('worker/readyz')).status).to.equal(200);
    const failed = await probe('worker/livez');
    expect(failed.status).to.equal(503);
    expect(failed.body).to.deep.include({ probe: 'worker/livez', ok: false });
  });

  it('fails a probe that outlives timeoutSeconds', async () => {
    const started = Date.now();
    const r = await probe('worker/startupz');
    expect(r.status).to.equal(503);
    expect(JSON.stringify(r.body)).to.include('timed out after 1000 ms');
    expect(Date.now() - started).to.be.within(900, 5_000);
  });

  it('runs tcpSocket probes as a connect', async () => {
    expect((await probe('raw/livez')).status).to.equal(200);
    expect((await probe('web/readyz')).status).to.equal(200);
  });

  it('answers 404 for a probe it was not given', async () => {
    const r = await probe('nobody/livez');
    expect(r.status).to.equal(404);
    expect(JSON.stringify(r.body)).to.include('web/livez');
  });

  it('answers 503 once the app has stopped', async () => {
    await close(app);
    expect((await probe('web/livez')).status).to.equal(503);
    expect((await probe('web/readyz')).status).to.equal(503);
  });
});

describe('detour proxy: DETOUR_APP_PROBES and --inbound', function () {
  this.timeout(30_000);

  it('serves the probes the env gives it, against POD_IP', async () => {
    const app = http.createServer((_req, res) => res.end('ok'));
    const appPort = await listen(app);
    const child = spawn(
      process.execPath,
      detourArgv([
        'proxy',
        '--source',
        'file:/dev/null',
        '--inbound',
        `${appPort}=15100`,
        ...LOOPBACK_EPHEMERAL_PROXY_FLAGS,
      ]),
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          KUBERNETES_SERVICE_HOST: '',
          POD_IP: '127.0.0.1',
          POD_NAMESPACE: 'web',
          DETOUR_APP_PROBES: JSON.stringify({ 'web/livez': { httpGet: { port: appPort } } }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const deadline = Date.now() + 20_000;
      while (!/"msg":"ready"/.test(out) && Date.now() < deadline && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const start = out.split('\n').find((l) => l.includes('detour proxy starting')) ?? '';
      const parsed = JSON.parse(start) as { admin: string; inbound: unknown };
      expect(parsed.inbound).to.deep.equal([{ appPort, listenerPort: 15100 }]);
      const res = await request(`http://${parsed.admin}/app-health/web/livez`);
      expect(res.statusCode).to.equal(200);
      await res.body.dump();
      await close(app);
      const down = await request(`http://${parsed.admin}/app-health/web/livez`);
      expect(down.statusCode).to.equal(503);
      await down.body.dump();
    } finally {
      child.kill('SIGKILL');
      await close(app);
    }
  });

  it('stops at start on a malformed DETOUR_APP_PROBES, naming it', async () => {
    const r = await runDetour(['proxy', '--source', 'file:/dev/null'], {
      env: { KUBERNETES_SERVICE_HOST: '', DETOUR_APP_PROBES: '{"web":1}' },
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('DETOUR_APP_PROBES').and.contain('DETOUR_E_BAD_KNOB');
  });

  for (const [args, reason] of [
    [['--inbound', '15001=15100'], "detour's own range"],
    [['--inbound', '8080'], 'APP_PORT=LISTENER_PORT'],
    [['--inbound', '8080=15100', '--mode', 'gateway'], '--mode sidecar only'],
  ] as const) {
    it(`refuses ${args.join(' ')} naming --inbound`, async () => {
      const r = await runDetour(['proxy', '--source', 'file:/dev/null', ...args], {
        env: { KUBERNETES_SERVICE_HOST: '' },
      });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('--inbound').and.contain(reason);
    });
  }
});
