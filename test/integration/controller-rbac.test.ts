import { join } from 'node:path';
import { expect } from 'chai';
import { CoreV1Api } from '@kubernetes/client-node';
import { Controller } from '../../controller/controller.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { KubeSource } from '../../sidecar/sources/kube-source.js';
import type { RouteTable } from '../../sidecar/route-table.js';
import { ApiServerDouble } from '../support/api-server/server.js';
import { KubeTestClient, eventually } from '../support/api-server/kube-test-client.js';
import { clusterRoleRules, rbacAuthorizer } from '../support/api-server/rbac.js';
import { REPO_ROOT } from '../support/cli.js';
import { memoryLog, TEST_KNOBS } from '../support/kube-stack.js';

/**
 * The controller and the kube source under exactly the ClusterRoles of
 * manifests/base/: if either needs a permission the manifests do not grant (or the
 * Secret watch lacked the field selector that lets `resourceNames` apply), this fails.
 */
describe('controller and kube source under the RBAC of manifests/base', function () {
  this.timeout(30_000);
  const controllerUser = 'system:serviceaccount:detour-system:detour';
  const sidecarUser = 'system:serviceaccount:shop:default';
  let double: ApiServerDouble;

  beforeEach(async () => {
    const base = join(REPO_ROOT, 'manifests', 'base');
    double = await ApiServerDouble.start({
      bookmarkIntervalMs: 200,
      tokens: { admin: 'admin', controller: controllerUser, sidecar: sidecarUser },
      authorize: rbacAuthorizer({
        admin: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
        [controllerUser]: clusterRoleRules(join(base, 'rbac-controller.yaml'), 'detour-controller'),
        [sidecarUser]: clusterRoleRules(join(base, 'rbac-sidecar.yaml'), 'detour-sidecar'),
      }),
    });
  });
  afterEach(async () => {
    await double.close();
  });

  it('routes with an API key while every request stays within the granted rules', async () => {
    const admin = new KubeTestClient(double.kubeConfig('admin'));
    await admin.createPod({
      namespace: 'shop',
      name: 'web',
      ip: '127.0.0.41',
      hosts: 'web.shop',
      paths: '8080:/',
    });
    await admin.putSecret('shop', 'routing', { 'private-api-key': 'k' });
    await admin.putApiPolicy('shop', 'limits', { rateLimit: { requests: 1, per: 'second' } });
    const config = loadPlaneConfig('private', {});
    const controller = new Controller({
      kubeConfig: double.kubeConfig('controller'),
      config,
      logger: memoryLog().logger,
      knobs: TEST_KNOBS,
      debounceMs: 50,
      maxDelayMs: 200,
    });
    const source = new KubeSource({
      config,
      kubeConfig: double.kubeConfig('sidecar'),
      logger: memoryLog().logger,
      knobs: TEST_KNOBS,
    });
    let table: RouteTable | undefined;
    try {
      await controller.start();
      await source.start((t) => (table = t));
      await eventually(() => {
        const match = table?.match('web.shop', '/');
        return match?.kind === 'route' && match.route.apiKeyHashes.length === 2 ? true : undefined;
      }, 'the protected route');
      // The ApiPolicy is compiled in, and its status written through apipolicies/status.
      await eventually(() => {
        const match = table?.match('web.shop', '/');
        return match?.kind === 'route' && match.route.policy?.name === 'shop/limits'
          ? true
          : undefined;
      }, 'the policy on the route');
      const status = await eventually(async () => {
        const policy = await admin.getApiPolicy('shop', 'limits');
        return (policy.status as { routes?: string[] } | undefined)?.routes;
      }, 'the ApiPolicy status');
      expect(status).to.deep.equal(['web.shop/']);
      expect(double.counters.forbidden).to.equal(0);
    } finally {
      await source.stop();
      await controller.stop();
    }
  });

  it('refuses what the roles do not grant: the sidecar reading Pods, Secrets or ApiPolicies, any unfiltered Secret list', async () => {
    const sidecar = double.kubeConfig('sidecar').makeApiClient(CoreV1Api);
    const controller = double.kubeConfig('controller').makeApiClient(CoreV1Api);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 200,
        (e: unknown) => (e as { code: number }).code,
      );
    expect(await code(sidecar.listPodForAllNamespaces())).to.equal(403);
    const sidecarCustom = new KubeTestClient(double.kubeConfig('sidecar'));
    expect(await code(sidecarCustom.getApiPolicy('shop', 'limits'))).to.equal(403);
    expect(
      await code(sidecar.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=routing' })),
    ).to.equal(403);
    expect(await code(controller.listSecretForAllNamespaces())).to.equal(403);
    expect(
      await code(controller.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=other' })),
    ).to.equal(403);
    expect(
      await code(controller.listSecretForAllNamespaces({ fieldSelector: 'metadata.name=routing' })),
    ).to.equal(200);
  });
});
