import { expect } from 'chai';
import { send } from '../support/proxy.js';
import { startUpstream, type EchoBody, type TestUpstream } from '../support/upstream.js';
import {
  eventually,
  podStatus,
  routablePod as kubeRoutablePod,
} from '../support/api-server/kube-test-client.js';
import type { KubeObject } from '../support/api-server/resources.js';
import { startKubeStack, type KubeStack } from '../support/kube-stack.js';

/**
 * Pods and Secrets in the API server -> controller -> RouteTables -> kube source -> a
 * running proxy forwarding to real upstreams on 127.0.0.x. Everything goes through the
 * real client library and the real wire protocol (the API-server double).
 */
describe('controller + kube source + proxy (through the API-server double)', function () {
  this.timeout(60_000);
  let stack: KubeStack;
  const upstreams: TestUpstream[] = [];

  async function upstream(name: string, host: string): Promise<TestUpstream> {
    const u = await startUpstream(name, host);
    upstreams.push(u);
    return u;
  }

  /** Which upstream answered (or the status when it was not a 200). */
  async function hit(
    host: string,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<string> {
    const answer = await send(stack.proxy.origin, host, path, { headers });
    if (answer.status !== 200) return String(answer.status);
    return (answer.json() as unknown as EchoBody).name;
  }

  async function until(host: string, path: string, expected: string, headers = {}): Promise<void> {
    await eventually(
      async () => ((await hit(host, path, headers)) === expected ? true : undefined),
      `${host}${path} -> ${expected}`,
    );
  }

  /** A routable pod `web-1` in `namespace` served by `u`, claiming `hosts` on `/`. */
  async function webPod(u: TestUpstream, hosts: string, namespace = 'shop'): Promise<void> {
    await stack.client.createPod({
      namespace,
      name: 'web-1',
      ip: u.host,
      ports: [u.port],
      hosts,
      paths: `${u.port}:/`,
    });
  }

  function endpointCount(host: string, path: string): number {
    const match = stack.source.table?.match(host, path);
    return match?.kind === 'route' ? match.route.endpoints.length : 0;
  }

  beforeEach(async () => {
    stack = await startKubeStack();
  });
  afterEach(async () => {
    await stack.close();
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
  });

  it('creates RouteTables from routable pods and a Secret, and the proxy routes to the pods', async () => {
    const a = await upstream('a1', '127.0.0.11');
    await stack.client.createPod({
      namespace: 'shop',
      name: 'web-1',
      ip: a.host,
      ports: [a.port],
      hosts: 'web.shop',
      paths: `${a.port}:/api`,
    });
    await stack.client.putSecret('shop', 'routing', { 'private-api-key': 's3cret' });
    await until('web.shop', '/api/items', 'a1', { 'x-routing-api-key': 's3cret' });
    expect(await hit('web.shop', '/api/items')).to.equal('403');
    expect(await hit('web.shop', '/other')).to.equal('404');

    const [table, ...others] = await stack.tables();
    expect(others).to.deep.equal([]);
    expect(table?.metadata).to.include({ name: 'detour-private', namespace: 'shop' });
    expect(table?.metadata.labels).to.deep.equal({ 'detour.dev/plane': 'private' });
    expect(table?.spec.routes).to.have.length(1);
    expect(table?.spec.routes[0]?.endpoints).to.deep.equal([
      { ip: a.host, port: a.port, pod: 'web-1' },
    ]);
    expect(table?.spec.apiKeyHashes).to.have.length(2);
    expect(table?.spec.routes[0]?.enforcedAt).to.equal('caller');
    expect(table?.status).to.deep.include({ skipped: [], conflicts: [] });
    expect(JSON.stringify(table)).to.not.contain('s3cret');
    expect(stack.controller.metrics.registry.getSingleMetric('detour_controller_route_tables')).to
      .exist;
  });

  it('follows scale up, not-ready, scale down and pod deletion; drops the table when no route is left', async () => {
    const a = await upstream('a1', '127.0.0.11');
    const b = await upstream('b1', '127.0.0.12');
    const pod = (name: string, u: TestUpstream) => ({
      namespace: 'shop',
      name,
      ip: u.host,
      ports: [8080, u.port],
      hosts: 'web.shop',
      paths: `${u.port}:/`,
    });
    await stack.client.createPod(pod('web-1', a));
    await until('web.shop', '/', 'a1');
    await stack.client.createPod(pod('web-2', b));
    await eventually(() => (endpointCount('web.shop', '/') === 2 ? true : undefined), 'two');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await hit('web.shop', '/'));
    expect([...seen].sort()).to.deep.equal(['a1', 'b1']);

    await stack.client.setPodStatus('shop', 'web-1', a.host, false); // not ready
    await eventually(async () => {
      for (let i = 0; i < 4; i++) if ((await hit('web.shop', '/')) !== 'b1') return undefined;
      return true;
    }, 'only b1 while web-1 is not ready');
    await stack.client.deletePod('shop', 'web-2');
    // No ready pod left: the table goes, and the host becomes unknown to the proxy (in
    // sidecar mode an unknown host is passed through to DNS, as without detour).
    await eventually(
      () => (stack.source.table?.hasHost('web.shop') === false ? true : undefined),
      'the host gone from the proxy',
    );
    await eventually(
      async () => ((await stack.tables()).length === 0 ? true : undefined),
      'the table deleted',
    );
    await stack.client.setPodStatus('shop', 'web-1', a.host, true);
    await until('web.shop', '/', 'a1');
  });

  it('follows an edited paths annotation', async () => {
    const a = await upstream('a1', '127.0.0.11');
    await stack.client.createPod({
      namespace: 'shop',
      name: 'web-1',
      ip: a.host,
      ports: [a.port],
      hosts: 'web.shop',
      paths: `${a.port}:/v1`,
    });
    await until('web.shop', '/v1', 'a1');
    await stack.client.annotatePod('shop', 'web-1', { privatePaths: `${a.port}:/v2` });
    await until('web.shop', '/v2', 'a1');
    expect(await hit('web.shop', '/v1')).to.equal('404');
  });

  it('follows the API-key Secret being added, rotated and removed', async () => {
    const a = await upstream('a1', '127.0.0.11');
    await stack.client.createPod({
      namespace: 'shop',
      name: 'web-1',
      ip: a.host,
      ports: [a.port],
      hosts: 'web.shop',
      paths: `${a.port}:/`,
    });
    await until('web.shop', '/', 'a1');
    await stack.client.putSecret('shop', 'routing', { 'private-api-key': 'one' });
    await until('web.shop', '/', '403');
    expect(await hit('web.shop', '/', { 'x-routing-api-key': 'one' })).to.equal('a1');
    await stack.client.putSecret('shop', 'routing', { 'private-api-key': 'two' });
    await until('web.shop', '/', 'a1', { 'x-routing-api-key': 'two' });
    expect(await hit('web.shop', '/', { 'x-routing-api-key': 'one' })).to.equal('403');
    await stack.client.deleteSecret('shop', 'routing');
    await until('web.shop', '/', 'a1');
    // A Secret of another name is not watched at all (RBAC only allows `routing`).
    await stack.client.putSecret('shop', 'unrelated', { 'private-api-key': 'x' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await hit('web.shop', '/')).to.equal('a1');
  });

  it('resolves two namespaces claiming one host: the oldest claim wins, both statuses say so', async () => {
    const old = await upstream('old', '127.0.0.11');
    const young = await upstream('young', '127.0.0.12');
    await stack.client.createHostGrant('shared', {
      namespaces: ['zeta', 'alpha'],
      hosts: ['shared.example'],
    });
    // "zeta" claims first; the tie-break by name would favour "alpha", so age must decide.
    await stack.client.createPod({
      namespace: 'zeta',
      name: 'web',
      ip: old.host,
      ports: [old.port],
      hosts: 'shared.example',
      paths: `${old.port}:/`,
    });
    await new Promise((r) => setTimeout(r, 1_100)); // creationTimestamp has 1 s resolution
    await stack.client.createPod({
      namespace: 'alpha',
      name: 'web',
      ip: young.host,
      ports: [young.port],
      hosts: 'shared.example',
      paths: `${young.port}:/`,
    });
    await eventually(async () => {
      const tables = await stack.tables();
      return tables.length === 2 && tables.every((t) => (t.status?.conflicts.length ?? 0) === 1)
        ? tables
        : undefined;
    }, 'conflicts in both statuses');
    const tables = await stack.tables();
    for (const t of tables) {
      expect(t.status?.conflicts).to.deep.equal([
        { host: 'shared.example', path: '/', winner: 'zeta', loser: 'alpha' },
      ]);
    }
    expect(tables.find((t) => t.metadata.namespace === 'alpha')?.spec.routes).to.deep.equal([]);
    await until('shared.example', '/', 'old');
    const logged = stack.controllerLog
      .records()
      .filter((r) => r.msg === 'route conflict: the oldest claim wins');
    expect(logged).to.have.length(1); // once, though both tables report it
    expect(logged[0]).to.include({ host: 'shared.example', winner: 'zeta', loser: 'alpha' });
    await stack.client.deletePod('zeta', 'web');
    await until('shared.example', '/', 'young');
  });

  it('follows HostGrants: a grant added lets the claim route, removed refuses it again', async () => {
    const a = await upstream('a1', '127.0.0.11');
    await webPod(a, 'web.shop api.example.com');
    await until('web.shop', '/', 'a1');
    // Refused: not routed (the sidecar passes an unknown host through), and reported.
    expect(stack.source.table?.hasHost('api.example.com')).to.equal(false);
    const refused = async (): Promise<string[]> =>
      (await stack.tables()).flatMap((t) => (t.status?.skipped ?? []).map((s) => s.value));
    expect(await refused()).to.deep.equal(['api.example.com']);
    expect(
      stack.controllerLog
        .records()
        .filter((r) => r.msg === 'annotation entry skipped' && r.value === 'api.example.com'),
    ).to.have.length(1);

    await stack.client.createHostGrant('shop-api', {
      namespaces: ['shop'],
      hosts: ['api.example.com'],
    });
    await until('api.example.com', '/', 'a1');
    expect(await refused()).to.deep.equal([]);

    await stack.client.deleteHostGrant('shop-api');
    await eventually(
      () => (stack.source.table?.hasHost('api.example.com') === false ? true : undefined),
      'api.example.com refused again',
    );
    expect(await refused()).to.deep.equal(['api.example.com']);

    // The double does not validate against the CRD: an invalid grant grants nothing, and
    // the controller says why, once.
    await stack.client.createHostGrant('with-port', {
      namespaces: ['shop'],
      hosts: ['api.example.com:443'],
    });
    await eventually(
      () =>
        stack.controllerLog.records().some((r) => r.hostGrant === 'with-port') ? true : undefined,
      'the invalid grant is logged',
    );
    await stack.controller.reconcileNow();
    const logged = stack.controllerLog.records().filter((r) => r.hostGrant === 'with-port');
    expect(logged).to.have.length(1);
    expect(logged[0]?.problem).to.match(/^spec\.hosts\.0/);
    expect(stack.source.table?.hasHost('api.example.com')).to.equal(false);
  });

  it('follows Namespace labels for a HostGrant namespaceSelector', async () => {
    const a = await upstream('a1', '127.0.0.11');
    await stack.client.putNamespace('shop', { team: 'ops' });
    await stack.client.createHostGrant('web-team', {
      namespaceSelector: { matchLabels: { team: 'web' } },
      hosts: ['*.partners.example'],
    });
    await webPod(a, 'web.shop a.partners.example');
    await until('web.shop', '/', 'a1');
    expect(stack.source.table?.hasHost('a.partners.example')).to.equal(false);
    await stack.client.putNamespace('shop', { team: 'web' });
    await until('a.partners.example', '/', 'a1');
    await stack.client.putNamespace('shop', {});
    await eventually(
      () => (stack.source.table?.hasHost('a.partners.example') === false ? true : undefined),
      'a.partners.example refused after the label is gone',
    );
  });

  it('writes the tables of 40 namespaces over a few kept-alive connections, not one each', async () => {
    const before = stack.double.counters.connections;
    for (let i = 0; i < 40; i++) {
      const pod = kubeRoutablePod({
        namespace: `ns-${i}`,
        name: 'web-1',
        ip: '127.0.0.21',
        ports: [8080],
        hosts: `web.ns-${i}`,
        paths: '8080:/',
      });
      pod.status = podStatus('127.0.0.21', true);
      stack.double.seed(pod as KubeObject);
    }
    await eventually(
      () => ((stack.double.counters.writes['apply routetables'] ?? 0) >= 40 ? true : undefined),
      '40 RouteTables applied',
    );
    // client-node's KubeConfig alone opens one TLS connection per write (issue 13): 80
    // here. The writer runs 16 at a time, so reuse needs about that many, plus a few
    // for watches that restart meanwhile.
    expect(stack.double.counters.connections - before).to.be.below(30);
  });

  it('writes nothing when nothing changed, and two replicas agree without a leader', async () => {
    const a = await upstream('a1', '127.0.0.11');
    await stack.client.createPod({
      namespace: 'shop',
      name: 'web-1',
      ip: a.host,
      ports: [a.port],
      hosts: 'web.shop',
      paths: `${a.port}:/`,
    });
    await until('web.shop', '/', 'a1');
    const writes = JSON.stringify(stack.double.counters.writes);
    await stack.controller.reconcileNow();
    expect(JSON.stringify(stack.double.counters.writes)).to.equal(writes);

    const { Controller } = await import('../../controller/controller.js');
    const { memoryLog, TEST_KNOBS } = await import('../support/kube-stack.js');
    const second = new Controller({
      kubeConfig: stack.double.kubeConfig(),
      config: stack.config,
      logger: memoryLog().logger,
      knobs: TEST_KNOBS,
      debounceMs: 50,
      maxDelayMs: 300,
    });
    await second.start();
    try {
      const b = await upstream('b1', '127.0.0.12');
      await stack.client.createPod({
        namespace: 'shop',
        name: 'web-2',
        ip: b.host,
        ports: [b.port],
        hosts: 'web.shop',
        paths: `${b.port}:/`,
      });
      await stack.client.createPod({
        namespace: 'blog',
        name: 'web-1',
        ip: b.host,
        ports: [b.port],
        hosts: 'web.blog',
        paths: `${b.port}:/`,
      });
      await until('web.blog', '/', 'b1');
      await stack.controller.reconcileNow();
      await second.reconcileNow();
      const tables = await stack.tables();
      expect(tables.map((t) => t.metadata.namespace).sort()).to.deep.equal(['blog', 'shop']);
      expect(
        tables.find((t) => t.metadata.namespace === 'shop')?.spec.routes[0]?.endpoints,
      ).to.have.length(2);
      expect((await second.metrics.applyErrors.get()).values).to.deep.equal([]);
      expect(stack.controller.lastResult?.errors).to.equal(0);
      expect(second.lastResult?.errors).to.equal(0);
      const managers = (
        tables[0]?.metadata as { managedFields?: { manager: string }[] }
      ).managedFields?.map((m) => m.manager);
      expect([...new Set(managers)]).to.deep.equal(['detour-controller']);
    } finally {
      await second.stop();
    }
  });
});
