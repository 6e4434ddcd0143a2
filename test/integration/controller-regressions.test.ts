import { expect } from 'chai';
import { eventually } from '../support/api-server/kube-test-client.js';
import { startKubeStack, type KubeStack } from '../support/kube-stack.js';
import type { Endpoint } from '../../sidecar/route-table.js';

/**
 * One test per bug the seed router (k8s-pods-ingress) had in its watch-and-reload loop,
 * each through the whole stack: API-server double -> controller -> RouteTables -> kube
 * source. The addresses are never dialled here; the proxy's table is the observable.
 */
describe('controller regressions (the seed router bugs)', function () {
  this.timeout(60_000);
  let stack: KubeStack;

  function endpoints(host: string, path = '/'): string[] {
    const match = stack.source.table?.match(host, path);
    return match?.kind === 'route'
      ? match.route.endpoints.map((e: Endpoint) => `${e.namespace}/${e.pod}@${e.key}`).sort()
      : [];
  }

  function apiKeyRequired(host: string): boolean {
    const match = stack.source.table?.match(host, '/');
    return match?.kind === 'route' && match.route.apiKeyRequired;
  }

  async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    await eventually(() => (check() ? true : undefined), what, timeoutMs);
  }

  const pod = (namespace: string, name: string, ip: string, host: string, paths = '8080:/') => ({
    namespace,
    name,
    ip,
    ports: [8080, 9090],
    hosts: host,
    paths,
  });

  afterEach(async () => {
    await stack.close();
  });

  it('keys pods by namespace/name: same-named pods in two namespaces both route', async () => {
    stack = await startKubeStack();
    await stack.client.createPod(pod('a', 'web', '127.0.0.21', 'web.a'));
    await stack.client.createPod(pod('b', 'web', '127.0.0.22', 'web.b'));
    await until('both', () => endpoints('web.a').length === 1 && endpoints('web.b').length === 1);
    await stack.client.deletePod('a', 'web');
    await until('a gone', () => endpoints('web.a').length === 0);
    expect(endpoints('web.b')).to.deep.equal(['b/web@127.0.0.22:8080']);
    await stack.client.setPodStatus('b', 'web', '127.0.0.23', true);
    await until('b moved', () => endpoints('web.b')[0] === 'b/web@127.0.0.23:8080');
  });

  it('does not let a later no-op event of a batch overwrite an earlier change', async () => {
    stack = await startKubeStack({ debounceMs: 300, maxDelayMs: 1_000 });
    await stack.client.createPod(pod('a', 'web', '127.0.0.21', 'web.a'));
    await stack.client.createPod(pod('a', 'idle', '127.0.0.30', 'idle.a'));
    await until(
      'first table',
      () => endpoints('web.a').length === 1 && endpoints('idle.a').length === 1,
    );
    const compiles = (await stack.controller.metrics.compiles.get()).values[0]?.value ?? 0;
    // One burst: a real change, then an event that changes no route.
    await stack.client.setPodStatus('a', 'web', '127.0.0.24', true);
    await stack.client.annotatePod('a', 'idle', { 'unrelated/annotation': 'x' });
    await until('the change applied', () => endpoints('web.a')[0] === 'a/web@127.0.0.24:8080');
    const after = (await stack.controller.metrics.compiles.get()).values[0]?.value ?? 0;
    expect(after - compiles).to.be.lessThan(4); // the burst was coalesced
  });

  it('applies a Secret event that arrives in the same batch as pod events', async () => {
    stack = await startKubeStack({ debounceMs: 300, maxDelayMs: 1_000 });
    await stack.client.createPod(pod('a', 'web', '127.0.0.21', 'web.a'));
    await until('first table', () => endpoints('web.a').length === 1);
    await stack.client.createPod(pod('a', 'web-2', '127.0.0.22', 'web.a'));
    await stack.client.putSecret('a', 'routing', { 'private-api-key': 'k' });
    await stack.client.createPod(pod('a', 'web-3', '127.0.0.23', 'web.a'));
    await until(
      'pods and Secret applied',
      () => endpoints('web.a').length === 3 && apiKeyRequired('web.a'),
    );
  });

  it('reconciles under a constant stream of events (the debounce has a max delay)', async () => {
    stack = await startKubeStack({ debounceMs: 250, maxDelayMs: 1_000 });
    await stack.client.createPod(pod('a', 'busy', '127.0.0.30', 'busy.a'));
    await until('first table', () => endpoints('busy.a').length === 1);
    const state = { streaming: true, finished: false };
    const stream = (async () => {
      // An update every 100 ms, for at least 6 s: never 250 ms of quiet.
      for (let i = 0; state.streaming && i < 60; i++) {
        await stack.client.annotatePod('a', 'busy', { tick: String(i) });
        await new Promise((r) => setTimeout(r, 100));
      }
      state.finished = true;
    })();
    const started = Date.now();
    await stack.client.createPod(pod('a', 'web', '127.0.0.21', 'web.a'));
    try {
      await until(
        'the new route while events keep coming',
        () => endpoints('web.a').length === 1,
        5_000,
      );
      expect(state.finished, 'the route must appear while events still stream').to.be.false;
      expect(Date.now() - started).to.be.lessThan(5_000);
    } finally {
      state.streaming = false;
      await stream;
    }
  });

  it("applies a change of a pod's IP alone, and of its port alone", async () => {
    stack = await startKubeStack();
    await stack.client.createPod(pod('a', 'web', '127.0.0.21', 'web.a'));
    await until('first', () => endpoints('web.a')[0] === 'a/web@127.0.0.21:8080');
    await stack.client.setPodStatus('a', 'web', '127.0.0.25', true); // IP only
    await until('new IP', () => endpoints('web.a')[0] === 'a/web@127.0.0.25:8080');
    await stack.client.annotatePod('a', 'web', { privatePaths: '9090:/' }); // port only
    await until('new port', () => endpoints('web.a')[0] === 'a/web@127.0.0.25:9090');
  });
});
