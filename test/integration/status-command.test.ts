import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { proxyStatus } from '../../ops/status-command.js';
import { ClusterReader } from '../../ops/cluster-reader.js';
import { AdminServer } from '../../sidecar/admin-server.js';
import { AccessLog } from '../../sidecar/access-log.js';
import { ProxyMetrics } from '../../sidecar/proxy-metrics.js';
import { ProxyServer } from '../../sidecar/proxy-server.js';
import { RouteTable } from '../../sidecar/route-table.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import { detourVersion } from '../../shared/version.js';
import { findResource } from '../support/api-server/resources.js';
import type { ApiServerDouble } from '../support/api-server/server.js';
import { runDetour } from '../support/cli.js';
import { startSelfSigned } from '../support/self-signed-webhook.js';
import { pod, PROXY_IMAGE, startInstall, type TestWebhook } from '../support/detour-install.js';

/** A proxy's admin server on loopback, holding `resources` (or not ready when undefined). */
async function adminWith(resources: RouteTableResource[] | undefined): Promise<AdminServer> {
  const proxy = new ProxyServer({
    mode: 'sidecar',
    config: loadPlaneConfig('private', {}),
    accessLog: new AccessLog({
      destination: new Writable({
        write: (_c, _e, cb) => {
          cb();
        },
      }),
    }),
    metrics: new ProxyMetrics(),
  });
  if (resources !== undefined) {
    proxy.setTable(RouteTable.fromResources(resources));
    proxy.markReady();
  }
  const admin = new AdminServer(proxy, 'kube');
  await admin.listen(0, '127.0.0.1');
  return admin;
}

function portOf(admin: AdminServer): number {
  const address = admin.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening');
  return address.port;
}

/**
 * `detour status` reads each injected pod's proxy `/ready` through the double's
 * `pods/proxy` subresource, which dials real admin servers on loopback.
 */
describe('detour status', function () {
  this.timeout(60_000);
  let webhook: TestWebhook;
  let api: ApiServerDouble;
  const admins = new Map<string, AdminServer>();

  before(async () => {
    webhook = await startSelfSigned();
    api = await startInstall(webhook, {
      resolvePod: (ns, name, port) => {
        expect(port).to.equal(15000);
        const admin = admins.get(`${ns}/${name}`);
        // A pod without an admin server: a port nothing listens on.
        return { host: '127.0.0.1', port: admin === undefined ? 1 : portOf(admin) };
      },
    });
    const table = api.store.get(findResource('RouteTable'), 'shop', 'detour-private');
    if (table === undefined) throw new Error('no table');
    const current = table as unknown as RouteTableResource;
    const behind = structuredClone(current);
    behind.metadata.resourceVersion = '1';
    admins.set('shop/web', await adminWith([current]));
    admins.set('shop/behind', await adminWith([behind]));
    admins.set('shop/starting', await adminWith(undefined));
    for (const name of ['behind', 'starting', 'down']) {
      api.seed(pod({ namespace: 'shop', name, proxyImage: PROXY_IMAGE }));
    }
    const pending = pod({ namespace: 'shop', name: 'pending', proxyImage: PROXY_IMAGE });
    (pending.status as { phase: string }).phase = 'Pending';
    api.seed(pending);
    api.seed(pod({ namespace: 'shop', name: 'not-injected' }));
  });

  after(async () => {
    for (const admin of admins.values()) await admin.close();
    await api.close();
    await webhook.webhook.close();
  });

  it('has one row per injected pod: version, table version, in sync or why not', async () => {
    const rows = await proxyStatus(new ClusterReader(api.kubeConfig()));
    const byPod = new Map(rows.map((r) => [r.pod, r]));
    expect(rows.map((r) => r.pod)).to.deep.equal(['behind', 'down', 'pending', 'starting', 'web']);
    const table = api.store.get(findResource('RouteTable'), 'shop', 'detour-private');
    const rv = table?.metadata.resourceVersion ?? '';
    expect(byPod.get('web')).to.include({
      namespace: 'shop',
      proxyVersion: detourVersion(),
      inSync: true,
      state: 'ready',
    });
    expect(byPod.get('web')?.tableVersion).to.be.a('number');
    expect(byPod.get('behind')).to.include({ inSync: false, state: 'ready' });
    expect(byPod.get('behind')?.detail).to.equal(
      `missing shop/detour-private@${rv}; outdated shop/detour-private@1`,
    );
    expect(byPod.get('starting')).to.include({
      state: 'not ready',
      inSync: null,
      detail: 'waiting for the first route table',
      proxyVersion: detourVersion(),
    });
    expect(byPod.get('down')).to.include({ state: 'no answer', proxyVersion: null });
    expect(byPod.get('down')?.detail).to.match(
      /error trying to reach service: dial tcp 127\.0\.0\.1:1: connect: connection refused/,
    );
    expect(byPod.get('pending')).to.include({ state: 'no answer', detail: 'pod is Pending' });
  });

  it('a new RouteTable version puts an in-sync proxy behind', async () => {
    const def = findResource('RouteTable');
    const table = api.store.get(def, 'shop', 'detour-private');
    if (table === undefined) throw new Error('no table');
    const changed = structuredClone(table);
    (changed.spec as { routes: unknown[] }).routes = [];
    api.store.replace(def, changed);
    try {
      const rows = await proxyStatus(new ClusterReader(api.kubeConfig()));
      expect(rows.find((r) => r.pod === 'web')).to.include({ inSync: false });
    } finally {
      // Back in sync for the next case: the table as stored now, a proxy that holds it.
      const restored = api.store.replace(def, { ...table, metadata: { ...table.metadata } });
      await admins.get('shop/web')?.close();
      admins.set('shop/web', await adminWith([restored as unknown as RouteTableResource]));
    }
  });

  it('prints a table, or JSON with --output json', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-status-'));
    try {
      const kubeconfig = path.join(dir, 'config');
      fs.writeFileSync(kubeconfig, api.kubeConfigYaml());
      const text = await runDetour(['status', '--kubeconfig', kubeconfig]);
      expect(text.code, text.stderr).to.equal(0);
      const lines = text.stdout.trimEnd().split('\n');
      expect(lines[0]).to.match(/^NAMESPACE +POD +PROXY +TABLE +SYNCED$/);
      expect(lines).to.have.length(6);
      expect(lines.find((l) => / web /.test(l))).to.match(
        new RegExp(`^shop +web +${detourVersion().replace(/\./g, '\\.')} +\\d+ +yes$`),
      );
      expect(lines.find((l) => / down /.test(l))).to.match(/ no answer: error trying to reach/);
      const json = await runDetour(['status', '--kubeconfig', kubeconfig, '-o', 'json']);
      const doc = JSON.parse(json.stdout) as { pods: { pod: string; inSync: boolean | null }[] };
      expect(doc.pods.map((p) => [p.pod, p.inSync])).to.deep.equal([
        ['behind', false],
        ['down', null],
        ['pending', null],
        ['starting', null],
        ['web', true],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an API server that never answers: one line on stderr, exit 1 within 10 s', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      held.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-status-'));
    try {
      const kubeconfig = path.join(dir, 'config');
      fs.writeFileSync(
        kubeconfig,
        api.kubeConfigYaml().replace(api.url, `https://127.0.0.1:${port}`),
      );
      const started = Date.now();
      const r = await runDetour(['status', '--kubeconfig', kubeconfig], { timeoutMs: 15_000 });
      expect(Date.now() - started).to.be.below(10_000);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.equal(`detour status: https://127.0.0.1:${port}: no answer in time\n`);
    } finally {
      for (const socket of held) socket.destroy();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
