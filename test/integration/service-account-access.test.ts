import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { ServiceAccountAccess } from '../../shared/kube/service-account-access.js';
import { KubeSource } from '../../sidecar/sources/kube-source.js';
import type { RouteTable } from '../../sidecar/route-table.js';
import { ApiServerDouble } from '../support/api-server/server.js';
import { eventually } from '../support/api-server/kube-test-client.js';
import type { KubeObject } from '../support/api-server/resources.js';
import { memoryLog, TEST_KNOBS } from '../support/kube-stack.js';

function routeTable(namespace: string, host: string): KubeObject {
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'RouteTable',
    metadata: { name: 'detour-private', namespace, labels: { 'detour.dev/plane': 'private' } },
    spec: {
      plane: 'private',
      routes: [
        {
          host,
          path: '/',
          claimedAt: '2026-01-01T00:00:00Z',
          endpoints: [{ ip: '127.0.0.51', port: 8080, pod: 'web' }],
        },
      ],
    },
  };
}

// The sidecar's in-pod credentials: KUBERNETES_SERVICE_HOST/PORT plus the mounted
// ServiceAccount CA and token, read without client-node's KubeConfig.
describe('ServiceAccount access (the sidecar in a pod)', function () {
  this.timeout(30_000);
  let dir: string;
  let double: ApiServerDouble;
  let source: KubeSource | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'detour-sa-'));
    double = await ApiServerDouble.start({ tokens: { 'token-new': 'admin' } });
    writeFileSync(join(dir, 'ca.crt'), double.caPem);
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await double.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function podEnv(): NodeJS.ProcessEnv {
    const { hostname, port } = new URL(double.url);
    return { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port };
  }

  it('is not used outside a pod (no service env, or no mounted credentials)', () => {
    writeFileSync(join(dir, 'token'), 'token-new');
    expect(ServiceAccountAccess.fromPod({}, dir)).to.equal(undefined);
    expect(ServiceAccountAccess.fromPod(podEnv(), join(dir, 'missing'))).to.equal(undefined);
    expect(ServiceAccountAccess.fromPod(podEnv(), dir)?.getCurrentCluster().server).to.equal(
      double.url.replace(/\/$/, ''),
    );
  });

  it('lists and watches RouteTables with the mounted CA and token, and follows a rotated token', async () => {
    // The kubelet has not written the current token yet: the API server says 401 and the
    // source keeps trying; once the file holds the new token, the next attempt reads it.
    writeFileSync(join(dir, 'token'), 'token-old');
    double.seed(routeTable('team-a', 'a.example'));
    const access = ServiceAccountAccess.fromPod(podEnv(), dir, 50);
    expect(access).to.not.equal(undefined);
    const tables: RouteTable[] = [];
    source = new KubeSource({
      config: loadPlaneConfig('private', {}),
      kubeConfig: access!,
      logger: memoryLog().logger,
      knobs: TEST_KNOBS,
    });
    const started = source.start((t) => tables.push(t));
    await eventually(() => (double.counters.unauthorized > 0 ? true : undefined), 'a 401');
    writeFileSync(join(dir, 'token'), 'token-new\n');
    await started;
    expect(tables.at(-1)?.hosts()).to.deep.equal(['a.example']);

    double.seed(routeTable('team-b', 'b.example'));
    await eventually(
      () => (tables.at(-1)?.hasHost('b.example') === true ? true : undefined),
      'the watched table',
    );
  });
});
