import { expect } from 'chai';
import { Controller } from '../../controller/controller.js';
import type { ApiPolicyStatus } from '../../controller/api-policy-status.js';
import { loadPlaneConfig, type Plane } from '../../shared/plane-config.js';
import { ApiServerDouble } from '../support/api-server/server.js';
import { KubeTestClient } from '../support/api-server/kube-test-client.js';
import { eventually } from '../support/eventually.js';
import { memoryLog, TEST_KNOBS, type MemoryLog } from '../support/kube-stack.js';

/**
 * The private and the public controller run side by side (the gateway overlay) and both
 * compile every ApiPolicy: each policy's status must have one writer, its first plane's,
 * or the two would overwrite each other on every reconcile.
 */
describe('controller: ApiPolicy status with both planes running', function () {
  this.timeout(30_000);
  let double: ApiServerDouble;
  let controllers: Controller[] = [];
  const logs = new Map<Plane, MemoryLog>();

  beforeEach(async () => {
    double = await ApiServerDouble.start({ bookmarkIntervalMs: 200 });
  });
  afterEach(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    controllers = [];
    await double.close();
  });

  function controller(plane: Plane): Controller {
    const log = memoryLog();
    logs.set(plane, log);
    const c = new Controller({
      kubeConfig: double.kubeConfig(),
      config: loadPlaneConfig(plane, {}),
      logger: log.logger,
      knobs: TEST_KNOBS,
      debounceMs: 50,
      maxDelayMs: 200,
    });
    controllers.push(c);
    return c;
  }

  it('writes a policy status once, from the plane that reports it, and then stops writing', async () => {
    const client = new KubeTestClient(double.kubeConfig());
    await client.createPod({
      namespace: 'shop',
      name: 'web',
      ip: '127.0.0.51',
      hosts: 'web.shop',
      paths: '8080:/',
    });
    await client.createPod({
      namespace: 'shop',
      name: 'edge',
      ip: '127.0.0.52',
      hosts: 'api.shop',
      paths: '8080:/',
      hostsAnnotation: 'publicHosts',
      pathsAnnotation: 'publicPaths',
    });
    await client.putApiPolicy('shop', 'both', { rateLimit: { requests: 9, per: 'second' } });
    await client.putApiPolicy('shop', 'edge', {
      planes: ['public'],
      hosts: ['api.shop'],
      rateLimit: { requests: 1, per: 'second' },
    });
    await Promise.all([controller('private').start(), controller('public').start()]);

    const statusOf = (name: string): Promise<ApiPolicyStatus> =>
      eventually(async () => {
        const status = (await client.getApiPolicy('shop', name)).status as
          ApiPolicyStatus | undefined;
        return status?.routes.length === 1 ? status : undefined;
      }, `${name}'s status`);
    const both = await statusOf('both');
    expect(both.plane).to.equal('private');
    expect(both.routes).to.deep.equal(['web.shop/']);
    const edge = await statusOf('edge');
    expect(edge.plane).to.equal('public');
    expect(edge.routes).to.deep.equal(['api.shop/']);

    // What the public plane cannot write into "both"'s status, it logs.
    const lost = logs
      .get('public')
      ?.records()
      .find((r) => r.apiPolicy === 'shop/both' && 'winner' in r);
    expect(lost).to.deep.include({ route: 'api.shop/', winner: 'shop/edge' });

    const key = 'apply status apipolicies';
    const writes = double.counters.writes[key];
    expect(writes).to.equal(2);
    for (let i = 0; i < 3; i++) {
      for (const c of controllers) await c.reconcileNow();
    }
    expect(double.counters.writes[key]).to.equal(writes);
  });
});
