import { Writable } from 'node:stream';
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../shared/logger.js';
import {
  ResilientInformer,
  type InformerEvent,
  type RestartReason,
} from '../../shared/kube/resilient-informer.js';
import { ApiServerDouble } from '../support/api-server/server.js';
import { findResource } from '../support/api-server/resources.js';
import { KubeTestClient, eventually } from '../support/api-server/kube-test-client.js';

/** A logger whose records the test can read. */
export function memoryLogger(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  const records: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      records.push(chunk.toString());
      cb();
    },
  });
  return {
    logger: createLogger({ level: 'debug', format: 'json', destination }),
    lines: () => records,
  };
}

describe('resilient informer (against the API-server double)', function () {
  this.timeout(30_000);
  let double: ApiServerDouble;
  let client: KubeTestClient;
  let informer: ResilientInformer<V1Pod>;
  let events: InformerEvent<V1Pod>[];
  let restarts: RestartReason[];
  let log: ReturnType<typeof memoryLogger>;

  function startInformer(knobs: object = {}): void {
    log = memoryLogger();
    informer = new ResilientInformer<V1Pod>({
      name: 'pods',
      kubeConfig: double.kubeConfig(),
      path: '/api/v1/pods',
      labelSelector: 'routable=true',
      logger: log.logger,
      knobs: {
        backoffInitialMs: 50,
        backoffMaxMs: 200,
        silenceLimitMs: 5_000,
        pageSize: 2,
        ...knobs,
      },
      hooks: { restart: (r) => restarts.push(r) },
    });
    informer.onEvent((e) => events.push(e));
    informer.start();
  }

  const names = (): string[] =>
    informer
      .list()
      .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)
      .sort();

  beforeEach(async () => {
    double = await ApiServerDouble.start({ bookmarkIntervalMs: 200 });
    client = new KubeTestClient(double.kubeConfig());
    events = [];
    restarts = [];
  });
  afterEach(async () => {
    await informer.stop();
    await double.close();
  });

  it('syncs after the first complete (paged) list and keys objects by namespace/name', async () => {
    for (const ns of ['a', 'b', 'c']) {
      await client.createPod({ namespace: ns, name: 'web', ip: '127.0.0.2' });
    }
    startInformer();
    await informer.synced;
    expect(informer.hasSynced).to.be.true;
    expect(names()).to.deep.equal(['a/web', 'b/web', 'c/web']);
    expect(informer.get('b', 'web')?.kind).to.equal('Pod');
    expect(double.counters.lists).to.equal(2); // pageSize 2: two pages
    await client.deletePod('b', 'web');
    await eventually(() => (names().length === 2 ? true : undefined), 'the delete');
    expect(names()).to.deep.equal(['a/web', 'c/web']);
  });

  it('resumes from its resourceVersion after a watch is cut mid-stream', async () => {
    startInformer();
    await informer.synced;
    const lists = double.counters.lists;
    double.cutWatches();
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
    await eventually(() => informer.get('a', 'p1'), 'the pod created while the watch was down');
    expect(double.counters.lists).to.equal(lists); // no relist needed
  });

  it('relists on 410 Gone after compaction, and reports the missed delete', async () => {
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
    startInformer();
    await informer.synced;
    await double.stop();
    // While it is down: a delete and an add, then etcd compacts past the informer's rv.
    double.store.delete(findResource('Pod'), 'a', 'p1');
    double.seed(podObject('a', 'p2'));
    double.compactTo();
    await double.resume();
    await eventually(() => informer.get('a', 'p2'), 'the pod added during the outage');
    expect(informer.get('a', 'p1')).to.equal(undefined);
    expect(events.some((e) => e.type === 'deleted' && e.object.metadata?.name === 'p1')).to.be.true;
    expect(restarts).to.include('expired');
    expect(double.counters.expired).to.be.greaterThan(0);
  });

  it('keeps retrying while the API server is down and converges when it is back', async () => {
    startInformer();
    await informer.synced;
    await double.stop();
    await new Promise((r) => setTimeout(r, 400));
    expect(informer.connected).to.be.false;
    double.seed(podObject('a', 'p3'));
    await double.resume();
    await eventually(() => informer.get('a', 'p3'), 'the pod after the outage');
    await eventually(() => (informer.connected ? true : undefined), 'connected again');
    expect(restarts.filter((r) => r === 'error').length).to.be.greaterThan(0);
  });

  it('restarts a watch that went silent (watchdog), and stays quiet while bookmarks flow', async () => {
    startInformer({ silenceLimitMs: 1_500 });
    await informer.synced;
    await new Promise((r) => setTimeout(r, 2_000));
    expect(restarts).to.not.include('silent'); // bookmarks every 200 ms keep it alive
    double.silenceWatches();
    await client.createPod({ namespace: 'a', name: 'p4', ip: '127.0.0.2' });
    await eventually(() => informer.get('a', 'p4'), 'the pod hidden by the silent watch', 5_000);
    expect(restarts).to.include('silent');
  });

  it('gives up on a list that hangs (silence limit) and retries until it answers', async () => {
    await client.createPod({ namespace: 'a', name: 'p8', ip: '127.0.0.2' });
    double.stallLists(true);
    startInformer({ silenceLimitMs: 300 });
    await new Promise((r) => setTimeout(r, 700));
    expect(informer.hasSynced).to.be.false;
    double.stallLists(false);
    await informer.synced;
    expect(names()).to.deep.equal(['a/p8']);
    expect(restarts).to.include('error');
  });

  it('relists on its relist interval (the safety net), without losing anything', async () => {
    await client.createPod({ namespace: 'a', name: 'p7', ip: '127.0.0.2' });
    startInformer({ relistIntervalMs: 300 });
    await informer.synced;
    const lists = double.counters.lists;
    await eventually(() => (double.counters.lists > lists ? true : undefined), 'a periodic relist');
    expect(restarts).to.include('relist');
    expect(names()).to.deep.equal(['a/p7']);
  });

  it('contains a handler that throws: later events and other handlers still arrive', async () => {
    startInformer();
    let calls = 0;
    informer.onEvent(() => {
      calls++;
      throw new Error('handler bug');
    });
    await informer.synced;
    await client.createPod({ namespace: 'a', name: 'p5', ip: '127.0.0.2' });
    await client.createPod({ namespace: 'a', name: 'p6', ip: '127.0.0.3' });
    await eventually(() => informer.get('a', 'p6'), 'the second pod');
    expect(calls).to.be.greaterThanOrEqual(2);
    expect(events.map((e) => e.object.metadata?.name)).to.include.members(['p5', 'p6']);
    expect(log.lines().some((l) => l.includes('informer handler threw'))).to.be.true;
  });
});

function podObject(namespace: string, name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { routable: 'true' } },
    spec: { containers: [{ name: 'app', image: 'x' }] },
    status: { phase: 'Running', podIP: '127.0.0.9' },
  };
}
