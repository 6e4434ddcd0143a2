import { expect } from 'chai';
import type { RoutePolicy } from '../../shared/api-policy.js';
import type { ApiPolicyStatus, PolicyCondition } from '../../controller/api-policy-status.js';
import { eventually } from '../support/eventually.js';
import { startKubeStack, type KubeStack } from '../support/kube-stack.js';

/**
 * ApiPolicies in the API server -> controller -> the routes of the namespace's
 * RouteTable (and the proxy's table, through the kube source), and each policy's
 * status written back through the status subresource. All through the real client
 * library and the API-server double.
 */
describe('controller: ApiPolicies (through the API-server double)', function () {
  this.timeout(60_000);
  let stack: KubeStack;
  const NS = 'shop';
  const HOST = 'web.shop';

  /** The policy the proxy's table gives `path` (via the RouteTable and the kube source). */
  function proxyPolicy(path: string): RoutePolicy | undefined | 'no route' {
    const match = stack.source.table?.match(HOST, path);
    return match?.kind === 'route' ? match.route.policy : 'no route';
  }

  async function tablePolicy(path: string): Promise<string | undefined> {
    const tables = await stack.tables();
    const route = tables
      .find((t) => t.metadata.namespace === NS)
      ?.spec.routes.find((r) => r.path === path);
    return route?.policy?.name;
  }

  async function status(name: string): Promise<ApiPolicyStatus | undefined> {
    const object = await stack.client.getApiPolicy(NS, name);
    return object.status as ApiPolicyStatus | undefined;
  }

  function condition(s: ApiPolicyStatus | undefined, type: string): PolicyCondition | undefined {
    return s?.conditions.find((c) => c.type === type);
  }

  /** Waits until the policy's status satisfies `check`, and returns it. */
  function statusWhere(
    name: string,
    check: (s: ApiPolicyStatus) => boolean,
    what: string,
  ): Promise<ApiPolicyStatus> {
    return eventually(async () => {
      const s = await status(name);
      return s !== undefined && check(s) ? s : undefined;
    }, `${name}: ${what}`);
  }

  beforeEach(async () => {
    stack = await startKubeStack();
    await stack.client.createPod({
      namespace: NS,
      name: 'web-1',
      ip: '127.0.0.31',
      ports: [8080],
      hosts: HOST,
      paths: '8080:/ 8080:/api',
    });
    await eventually(() => (proxyPolicy('/api') === 'no route' ? undefined : true), 'routes');
  });
  afterEach(async () => {
    await stack.close();
  });

  it('compiles a policy into the routes it selects and reports them as Accepted', async () => {
    await stack.client.putApiPolicy(NS, 'limits', {
      paths: ['/api'],
      rateLimit: { requests: 10, per: 'minute', key: 'source-pod' },
    });
    await eventually(() => (proxyPolicy('/api/items') === undefined ? undefined : true), 'policy');
    expect(proxyPolicy('/api/items')).to.deep.equal({
      name: 'shop/limits',
      rateLimit: { requests: 10, windowSeconds: 60, key: 'source-pod' },
    });
    expect(proxyPolicy('/other')).to.equal(undefined);
    expect(await tablePolicy('/api')).to.equal('shop/limits');

    const s = await statusWhere('limits', (x) => x.routes.length > 0, 'routes reported');
    expect(s.plane).to.equal('private');
    expect(s.routes).to.deep.equal(['web.shop/api']);
    expect(condition(s, 'Accepted')).to.deep.include({
      status: 'True',
      reason: 'Accepted',
      observedGeneration: 1,
    });
    expect(condition(s, 'Conflicted')).to.deep.include({ status: 'False', reason: 'NoConflict' });
  });

  it('reports an invalid policy as Invalid, naming the field, and leaves the table as it was', async () => {
    await stack.client.putApiPolicy(NS, 'good', { responseHeaders: { remove: ['server'] } });
    await eventually(() => (proxyPolicy('/') === undefined ? undefined : true), 'good policy');
    const before = await stack.tables();
    // The double does not enforce the CRD (as with a policy stored before the CRD refused it).
    await stack.client.putApiPolicy(NS, 'bad', {
      hosts: [HOST],
      forwardAuth: { url: 'http://auth.apim/check', timeoutMs: 90_000 },
    });
    const s = await statusWhere('bad', (x) => condition(x, 'Accepted') !== undefined, 'reported');
    expect(condition(s, 'Accepted')).to.deep.include({ status: 'False', reason: 'Invalid' });
    expect(condition(s, 'Accepted')?.message).to.match(/^spec\.forwardAuth\.timeoutMs: .*90000/);
    expect(s.routes).to.deep.equal([]);
    expect(await stack.tables()).to.deep.equal(before);
    expect((proxyPolicy('/') as RoutePolicy).name).to.equal('shop/good');
    // Logged once, not on every reconcile (the other plane's controller only logs it).
    await stack.controller.reconcileNow();
    await stack.controller.reconcileNow();
    const lines = stack.controllerLog
      .records()
      .filter((r) => r.msg === 'ApiPolicy invalid; skipped' && r.apiPolicy === 'shop/bad');
    expect(lines).to.have.length(1);
  });

  it('gives a route the more specific of two policies and reports the other as Conflicted', async () => {
    await stack.client.putApiPolicy(NS, 'broad', { rateLimit: { requests: 100, per: 'second' } });
    await stack.client.putApiPolicy(NS, 'specific', {
      hosts: ['WEB.shop'],
      paths: ['/api'],
      rateLimit: { requests: 1, per: 'second' },
    });
    const broad = await statusWhere(
      'broad',
      (x) => condition(x, 'Conflicted')?.status === 'True',
      'conflicted',
    );
    expect(broad.routes).to.deep.equal(['web.shop/']);
    expect(condition(broad, 'Conflicted')?.reason).to.equal('Overridden');
    expect(condition(broad, 'Conflicted')?.message).to.equal(
      'route web.shop/api carries ApiPolicy shop/specific (it names the host)',
    );
    const specific = await statusWhere('specific', (x) => x.routes.length > 0, 'routes');
    expect(specific.routes).to.deep.equal(['web.shop/api']);
    expect(await tablePolicy('/api')).to.equal('shop/specific');
    expect(
      stack.controllerLog.records().find((r) => r.apiPolicy === 'shop/broad' && 'winner' in r),
    ).to.deep.include({ route: 'web.shop/api', winner: 'shop/specific' });
    expect(await tablePolicy('/')).to.equal('shop/broad');
  });

  it('lifts a deleted policy from its routes; a spec change keeps lastTransitionTime; no write loop', async () => {
    await stack.client.putApiPolicy(NS, 'p', { rateLimit: { requests: 5, per: 'hour' } });
    const first = await statusWhere('p', (x) => x.routes.length === 2, 'attached');
    await stack.client.putApiPolicy(NS, 'p', { rateLimit: { requests: 6, per: 'hour' } });
    const second = await statusWhere(
      'p',
      (x) => condition(x, 'Accepted')?.observedGeneration === 2,
      'generation 2 observed',
    );
    expect(condition(second, 'Accepted')?.lastTransitionTime).to.equal(
      condition(first, 'Accepted')?.lastTransitionTime,
    );
    await eventually(
      () =>
        (proxyPolicy('/') as RoutePolicy | undefined)?.rateLimit?.requests === 6 ? true : undefined,
      'the new spec in the proxy',
    );

    // Settled: more reconciles write no status.
    const key = 'apply status apipolicies';
    const writes = stack.double.counters.writes[key];
    await stack.controller.reconcileNow();
    await stack.controller.reconcileNow();
    expect(stack.double.counters.writes[key]).to.equal(writes);

    await stack.client.deleteApiPolicy(NS, 'p');
    await eventually(() => (proxyPolicy('/') === undefined ? true : undefined), 'policy lifted');
    expect(await tablePolicy('/')).to.equal(undefined);
    expect(proxyPolicy('/api')).to.equal(undefined);
  });
});
