import { expect } from 'chai';
import { eventually, podStatus, routablePod } from '../support/api-server/kube-test-client.js';
import { send } from '../support/proxy.js';
import { startUpstream, type EchoBody, type TestUpstream } from '../support/upstream.js';
import { startKubeStack, TEST_KNOBS, type KubeStack } from '../support/kube-stack.js';
import { KubeSource } from '../../sidecar/sources/kube-source.js';
import type { RouteTable } from '../../sidecar/route-table.js';

/**
 * The API server misbehaving under a running controller and proxy. Each case: traffic
 * flows the whole time and must not fail (the table it needs never changes), the
 * disruption happens, then a pod is added and both the controller and the proxy must
 * converge on it.
 */
describe('kube source and controller under API-server failures', function () {
  this.timeout(60_000);
  let stack: KubeStack;
  let a: TestUpstream;
  let b: TestUpstream;
  let traffic: { stop: () => Promise<{ ok: number; failed: string[] }> };

  function endpointCount(): number {
    const match = stack.source.table?.match('web.shop', '/');
    return match?.kind === 'route' ? match.route.endpoints.length : 0;
  }

  /** Requests in a loop until stopped; records every answer that is not a 200 from a1/b1. */
  function startTraffic(): typeof traffic {
    const state = { running: true };
    let ok = 0;
    const failed: string[] = [];
    const loop = (async () => {
      for (let i = 0; state.running && i < 100_000; i++) {
        try {
          const answer = await send(stack.proxy.origin, 'web.shop', '/');
          const name = answer.status === 200 ? (answer.json() as unknown as EchoBody).name : '';
          if (name === 'a1' || name === 'b1') ok++;
          else failed.push(`${answer.status} ${answer.text.slice(0, 80)}`);
        } catch (err) {
          failed.push(String(err));
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    return {
      stop: async () => {
        state.running = false;
        await loop;
        return { ok, failed };
      },
    };
  }

  const secondPod = () => ({
    namespace: 'shop',
    name: 'web-2',
    ip: b.host,
    ports: [b.port],
    hosts: 'web.shop',
    paths: `${b.port}:/`,
  });

  /** Writes pod web-2 straight into the store (the API server may be down). */
  function seedSecondPod(): void {
    const pod = routablePod(secondPod()) as unknown as Parameters<typeof stack.double.seed>[0];
    pod.status = podStatus(b.host, true);
    stack.double.seed(pod);
  }

  /** Adds pod web-2 (upstream b) and waits until controller and proxy both have it. */
  async function addSecondPodAndConverge(): Promise<void> {
    await stack.client.createPod(secondPod());
    await eventually(
      () => (endpointCount() === 2 ? true : undefined),
      'the proxy routing to both pods',
      20_000,
    );
  }

  beforeEach(async () => {
    a = await startUpstream('a1', '127.0.0.11');
    b = await startUpstream('b1', '127.0.0.12');
    stack = await startKubeStack();
    await stack.client.createPod({
      namespace: 'shop',
      name: 'web-1',
      ip: a.host,
      ports: [a.port],
      hosts: 'web.shop',
      paths: `${a.port}:/`,
    });
    await eventually(() => (endpointCount() === 1 ? true : undefined), 'the first route');
    traffic = startTraffic();
  });
  afterEach(async () => {
    await traffic.stop();
    await stack.close();
    await a.close();
    await b.close();
  });

  async function expectNoFailedRequest(): Promise<void> {
    const { ok, failed } = await traffic.stop();
    expect(failed).to.deep.equal([]);
    expect(ok).to.be.greaterThan(0);
  }

  it('API server restart: keeps serving the last good table, says so, and converges', async () => {
    await stack.double.stop();
    await eventually(() => (stack.statuses.includes(false) ? true : undefined), 'onStatus(false)');
    await new Promise((r) => setTimeout(r, 500));
    await stack.double.resume();
    await addSecondPodAndConverge();
    await eventually(() => (stack.statuses.at(-1) === true ? true : undefined), 'onStatus(true)');
    const messages = stack.sourceLog.records().map((r) => r.msg);
    expect(messages).to.include(
      'API server unreachable: serving the last good route table until the watch is back',
    );
    expect(messages).to.include('API server reachable again');
    await expectNoFailedRequest();
  });

  it('watch cut mid-stream: resumes and converges', async () => {
    stack.double.cutWatches();
    await addSecondPodAndConverge();
    await expectNoFailedRequest();
  });

  it('expired resourceVersion (compaction while disconnected): relists and converges', async () => {
    await stack.double.stop();
    seedSecondPod(); // written while nobody watches, then history is compacted away
    stack.double.compactTo();
    await stack.double.resume();
    await eventually(
      () => (endpointCount() === 2 ? true : undefined),
      'convergence after 410',
      20_000,
    );
    expect(stack.double.counters.expired).to.be.greaterThan(0);
    await expectNoFailedRequest();
  });

  it('silent watch: the watchdog restarts it and it converges', async () => {
    stack.double.silenceWatches();
    await addSecondPodAndConverge();
    const restarts = await stack.controller.metrics.watchRestarts.get();
    expect(restarts.values.some((v) => v.labels.reason === 'silent' && v.value > 0)).to.be.true;
    await expectNoFailedRequest();
  });

  it('a table consumer that throws: contained, logged, retried, and converges', async () => {
    const tables: RouteTable[] = [];
    let throws = 1;
    const source = new KubeSource({
      config: stack.config,
      kubeConfig: stack.double.kubeConfig(),
      logger: stack.sourceLog.logger,
      knobs: TEST_KNOBS,
    });
    try {
      await source.start((table) => {
        if (throws-- > 0) throw new Error('consumer bug');
        tables.push(table);
      });
      await eventually(
        () => (tables.length > 0 ? true : undefined),
        'the table delivered on retry',
      );
      await addSecondPodAndConverge();
      await eventually(() => {
        const match = tables.at(-1)?.match('web.shop', '/');
        return match?.kind === 'route' && match.route.endpoints.length === 2 ? true : undefined;
      }, 'the second source converged');
      expect(stack.sourceLog.records().map((r) => r.msg)).to.include(
        'route table consumer threw; retrying',
      );
    } finally {
      await source.stop();
    }
    await expectNoFailedRequest();
  });
});
