import { expect } from 'chai';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { detourArgv } from '../support/cli.js';
import { NetnsLab, netnsUnavailable, type NetnsPod, type NetnsProcess } from '../support/netns.js';
import { routablePod } from '../support/routable-pod.js';
import { echoServerArgv } from '../support/seed-example.js';

/**
 * Issue 9, "open relay into the pod" and "/routes to anyone", with real namespaces: a
 * pod runs `detour init` (as its init container would) and the real `detour proxy`
 * (sidecar mode, default listen addresses) as UID 1337; a peer on the same bridge, as
 * another pod of the cluster, must not reach the outbound listener nor read the route
 * table, while the kubelet's and Prometheus's endpoints stay reachable. Inside the pod
 * everything works as before.
 *
 * Addresses (198.18.0.0/24, RFC 2544): .11 the pod (its app on :3000), .12 the peer.
 */
const PROXY_UID = 1337;
const APP_UID = 1000;
const ROUTE_HOST = 'my-application.my-namespace';

interface Curl {
  /** curl's exit code: 0 answered, 7 could not connect. */
  code: number | null;
  status: number;
  body: string;
  stderr: string;
}

describe('sidecar proxy in a pod network namespace: nothing outside the pod uses 15001 or reads /routes (root only)', function () {
  this.timeout(120_000);
  let lab: NetnsLab | undefined;
  let dir: string | undefined;
  let pod: NetnsPod;
  let peer: NetnsPod;
  let proxy: NetnsProcess;

  const curl = async (from: NetnsPod, url: string, headers: string[] = []): Promise<Curl> => {
    const result = await lab!.exec(
      from.ns,
      [
        'curl',
        '-sS',
        '--max-time',
        '5',
        '-w',
        '\n%{http_code}',
        ...headers.flatMap((h) => ['-H', h]),
        url,
      ],
      { uid: APP_UID, env: { http_proxy: '', HTTP_PROXY: '', no_proxy: '*' } },
    );
    const lines = result.stdout.split('\n');
    const status = Number(lines.pop());
    return { code: result.code, status, body: lines.join('\n'), stderr: result.stderr };
  };

  before(async function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    lab = NetnsLab.create();
    pod = lab.addPod('pod', { ip: '198.18.0.11' });
    peer = lab.addPod('peer', { ip: '198.18.0.12' });
    dir = mkdtempSync(join(tmpdir(), 'detour-netns-exposure-'));
    chmodSync(dir, 0o755); // the proxy (UID 1337) reads the cluster file
    const file = join(dir, 'cluster.yaml');
    const app = routablePod({
      name: 'my-application-1',
      ip: pod.ip,
      ports: [3000],
      hosts: ROUTE_HOST,
      paths: '3000:/nodejs',
    });
    writeFileSync(file, stringify(app), { mode: 0o644 });

    lab.spawn(pod.ns, echoServerArgv('my-application-1', 3000), { uid: APP_UID });
    const init = await lab.exec(pod.ns, [process.execPath, ...detourArgv(['init'])]);
    expect(init.code, `detour init: ${init.stderr}`).to.equal(0);
    proxy = lab.spawn(
      pod.ns,
      [process.execPath, ...detourArgv(['proxy', '--source', `file:${file}`])],
      { uid: PROXY_UID, env: { KUBERNETES_SERVICE_HOST: '', LOG_LEVEL: 'info' } },
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proxy.child.exitCode !== null) {
        throw new Error(`proxy exited: ${proxy.stderr()}${proxy.stdout()}`);
      }
      const ready = await curl(pod, 'http://127.0.0.1:15000/ready');
      if (ready.status === 200) break;
      if (Date.now() > deadline) throw new Error(`proxy not ready: ${proxy.stdout()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  after(async () => {
    await lab?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('a peer cannot connect to POD_IP:15001 (ECONNREFUSED), and curl with a loopback Host gets nothing', async () => {
    const script =
      `require('node:net').connect(15001, ${JSON.stringify(pod.ip)})` +
      `.on('connect', () => { console.log('connected'); process.exit(0); })` +
      `.on('error', (e) => { console.log(e.code); process.exit(0); });`;
    const dial = await lab!.exec(peer.ns, [process.execPath, '-e', script], { uid: APP_UID });
    expect(dial.stdout.trim(), dial.stderr).to.equal('ECONNREFUSED');
    for (const host of [ROUTE_HOST, '127.0.0.1:15000']) {
      const r = await curl(peer, `http://${pod.ip}:15001/nodejs/x`, [`Host: ${host}`]);
      expect(r.code, r.stderr).to.equal(7); // CURLE_COULDNT_CONNECT
      expect(r.status).to.equal(0);
    }
  });

  it('a peer gets 403 DETOUR_E_ROUTES_LOOPBACK from POD_IP:15000/routes and /routes/explain', async () => {
    for (const path of ['/routes', `/routes/explain?url=http://${ROUTE_HOST}/nodejs`]) {
      const r = await curl(peer, `http://${pod.ip}:15000${path}`);
      expect(r.status, path).to.equal(403);
      expect(r.body, path).to.include('DETOUR_E_ROUTES_LOOPBACK');
      expect(r.body, path).not.to.include(pod.ip);
    }
  });

  it('a peer (the kubelet, Prometheus) still gets 200 from /healthz, /ready and /metrics', async () => {
    for (const path of ['/healthz', '/ready', '/metrics']) {
      const r = await curl(peer, `http://${pod.ip}:15000${path}`);
      expect(r.status, `${path}: ${r.stderr}`).to.equal(200);
    }
    expect((await curl(peer, `http://${pod.ip}:15000/metrics`)).body).to.include(
      'detour_proxy_routes 1',
    );
  });

  it('inside the pod, 127.0.0.1:15001 routes and 127.0.0.1:15000/routes answers 200', async () => {
    const routed = await curl(pod, 'http://127.0.0.1:15001/nodejs/hello', [`Host: ${ROUTE_HOST}`]);
    expect(routed.status, routed.stderr + routed.body).to.equal(200);
    expect(JSON.parse(routed.body)).to.include({ pod: 'my-application-1', url: '/nodejs/hello' });
    const routes = await curl(pod, 'http://127.0.0.1:15000/routes');
    expect(routes.status).to.equal(200);
    expect(routes.body).to.include(`${ROUTE_HOST}/nodejs`).and.include(pod.ip);
    const explained = await curl(
      pod,
      `http://127.0.0.1:15000/routes/explain?url=http://${ROUTE_HOST}/nodejs/x`,
    );
    expect(explained.status).to.equal(200);
  });
});
