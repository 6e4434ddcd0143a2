/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
 * client-node's models are behaviour-less generated classes; its API takes plain objects. */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { ApiServerDouble } from '../support/api-server/server.js';
import { KubeTestClient, eventually } from '../support/api-server/kube-test-client.js';
import { makeCertificates } from '../support/api-server/tls.js';

const RT = { group: 'detour.dev', version: 'v1alpha1', plural: 'routetables' };
const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

interface WatchLine {
  type: string;
  object: { metadata?: { name?: string; resourceVersion?: string }; code?: number };
}

async function collectWatch(
  double: ApiServerDouble,
  path: string,
  query: Record<string, string | boolean>,
): Promise<{ lines: WatchLine[]; done: Promise<unknown>; abort: () => void }> {
  const lines: WatchLine[] = [];
  let finish: (err: unknown) => void = () => undefined;
  const done = new Promise((resolve) => (finish = resolve));
  const controller = await new Watch(double.kubeConfig()).watch(
    path,
    query,
    (type, object) => lines.push({ type, object: object as WatchLine['object'] }),
    (err) => {
      finish(err);
    },
  );
  return {
    lines,
    done,
    abort: () => {
      controller.abort();
    },
  };
}

describe('API-server double (through @kubernetes/client-node)', function () {
  this.timeout(30_000);
  let double: ApiServerDouble;
  let core: CoreV1Api;
  let client: KubeTestClient;

  beforeEach(async () => {
    double = await ApiServerDouble.start({ bookmarkIntervalMs: 100 });
    core = double.kubeConfig().makeApiClient(CoreV1Api);
    client = new KubeTestClient(double.kubeConfig());
  });
  afterEach(async () => {
    await double.close();
  });

  it('refuses requests without the bearer token with a 401 Status', async () => {
    const anonymous = double.kubeConfig('wrong-token').makeApiClient(CoreV1Api);
    const err = (await anonymous.listPodForAllNamespaces().catch((e: unknown) => e)) as {
      code: number;
    };
    expect(err.code).to.equal(401);
    // The client drops the body of a 401; read the Status object off the wire.
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`${double.url}/api/v1/pods`, { ca: double.caPem }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            resolve(text);
          });
        })
        .on('error', reject);
    });
    expect(JSON.parse(body)).to.include({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect(double.counters.unauthorized).to.equal(2);
  });

  it('creates, reads, lists with selectors and pages, and deletes pods', async () => {
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2', hosts: 'x' });
    await client.createPod({ namespace: 'b', name: 'p1', ip: '127.0.0.3', hosts: 'y' });
    await client.createPod({
      namespace: 'b',
      name: 'p2',
      ip: '127.0.0.4',
      labels: { routable: 'false' },
    });
    const pod = await core.readNamespacedPod({ namespace: 'b', name: 'p1' });
    expect(pod.status?.podIP).to.equal('127.0.0.3');
    expect(pod.metadata?.uid).to.be.a('string');

    const routable = await core.listPodForAllNamespaces({ labelSelector: 'routable=true' });
    expect(routable.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).to.deep.equal(
      ['a/p1', 'b/p1'],
    );
    const notTrue = await core.listPodForAllNamespaces({ labelSelector: 'routable!=true' });
    expect(notTrue.items).to.have.length(1);
    const byField = await core.listPodForAllNamespaces({
      fieldSelector: 'metadata.namespace=b,metadata.name=p1',
    });
    expect(byField.items).to.have.length(1);
    const running = await core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Running' });
    expect(running.items).to.have.length(3);

    const page1 = await core.listPodForAllNamespaces({ limit: 2 });
    expect(page1.items).to.have.length(2);
    expect(page1.metadata?._continue).to.be.a('string');
    const page2 = await core.listPodForAllNamespaces({
      limit: 2,
      _continue: page1.metadata?._continue,
    });
    expect(page2.items.map((p) => p.metadata?.name)).to.deep.equal(['p2']);
    expect(page2.metadata?._continue ?? '').to.equal('');

    await client.deletePod('a', 'p1');
    const err = (await core
      .readNamespacedPod({ namespace: 'a', name: 'p1' })
      .catch((e: unknown) => e)) as {
      code: number;
    };
    expect(err.code).to.equal(404);
  });

  it('answers 409 Conflict to a PUT with a stale resourceVersion', async () => {
    await client.putSecret('a', 'routing', { 'private-api-key': 'one' });
    const stale = await core.readNamespacedSecret({ namespace: 'a', name: 'routing' });
    await client.putSecret('a', 'routing', { 'private-api-key': 'two' });
    const err = (await core
      .replaceNamespacedSecret({ namespace: 'a', name: 'routing', body: stale })
      .catch((e: unknown) => e)) as { code: number };
    expect(err.code).to.equal(409);
  });

  it('streams watch events from a resourceVersion, with selectors and bookmarks', async () => {
    const list = await core.listPodForAllNamespaces({ labelSelector: 'routable=true' });
    const w = await collectWatch(double, '/api/v1/pods', {
      resourceVersion: list.metadata?.resourceVersion ?? '',
      labelSelector: 'routable=true',
      allowWatchBookmarks: true,
    });
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
    await client.createPod({ namespace: 'a', name: 'other', ip: '127.0.0.3', labels: { x: 'y' } });
    const pod = await core.readNamespacedPod({ namespace: 'a', name: 'p1' });
    pod.metadata!.labels = { routable: 'no' };
    await core.replaceNamespacedPod({ namespace: 'a', name: 'p1', body: pod });
    await eventually(
      () => (w.lines.some((l) => l.type === 'DELETED') ? true : undefined),
      'DELETED when the pod stops matching the selector',
    );
    await eventually(
      () => (w.lines.some((l) => l.type === 'BOOKMARK') ? true : undefined),
      'a bookmark',
    );
    w.abort();
    const types = w.lines
      .filter((l) => l.type !== 'BOOKMARK')
      .map((l) => `${l.type} ${l.object.metadata?.name}`);
    expect(types).to.deep.equal(['ADDED p1', 'MODIFIED p1', 'DELETED p1']);
    const rvs = w.lines.map((l) => Number(l.object.metadata?.resourceVersion));
    expect(rvs.filter((rv, i) => i > 0 && rv < (rvs[i - 1] ?? 0))).to.deep.equal([]);
  });

  it('sends a 410 Expired ERROR event to a watch from a compacted resourceVersion', async () => {
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
    const old = double.store.resourceVersion;
    await client.createPod({ namespace: 'a', name: 'p2', ip: '127.0.0.3' });
    double.compactTo();
    const w = await collectWatch(double, '/api/v1/pods', { resourceVersion: String(old) });
    await w.done;
    expect(w.lines).to.have.length(1);
    expect(w.lines[0]?.type).to.equal('ERROR');
    expect(w.lines[0]?.object.code).to.equal(410);
    expect(double.counters.expired).to.equal(1);
  });

  it('ends watch streams on cutWatches() and serves the same store after restart()', async () => {
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
    const w = await collectWatch(double, '/api/v1/pods', { resourceVersion: '0' });
    await eventually(() => (w.lines.length > 0 ? true : undefined), 'initial ADDED');
    double.cutWatches();
    await w.done;
    expect(double.openWatches).to.equal(0);
    const port = double.port;
    await double.restart(50);
    expect(double.port).to.equal(port);
    const pods = await core.listPodForAllNamespaces();
    expect(pods.items.map((p) => p.metadata?.name)).to.deep.equal(['p1']);
  });

  it('keeps a silenced watch connected but sends it nothing', async () => {
    const w = await collectWatch(double, '/api/v1/pods', {
      resourceVersion: '0',
      allowWatchBookmarks: true,
    });
    double.silenceWatches();
    await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
    await new Promise((r) => setTimeout(r, 300));
    expect(w.lines.filter((l) => l.type !== 'BOOKMARK')).to.deep.equal([]);
    expect(double.openWatches).to.equal(1);
    w.abort();
  });

  it('server-side applies RouteTables and their status, with field managers and conflicts', async () => {
    const custom = double.kubeConfig().makeApiClient(CustomObjectsApi);
    const body = {
      apiVersion: 'detour.dev/v1alpha1',
      kind: 'RouteTable',
      metadata: {
        name: 'detour-private',
        namespace: 'a',
        labels: { 'detour.dev/plane': 'private' },
      },
      spec: { plane: 'private', routes: [] },
    };
    const ssa = (manager: string, force: boolean, obj: object = body) =>
      custom.patchNamespacedCustomObject(
        { ...RT, namespace: 'a', name: 'detour-private', body: obj, fieldManager: manager, force },
        apply,
      );
    const created = (await ssa('detour-controller', true)) as {
      metadata: { resourceVersion: string; generation: number };
    };
    expect(created.metadata.generation).to.equal(1);
    const again = (await ssa('detour-controller', true)) as {
      metadata: { resourceVersion: string };
    };
    expect(again.metadata.resourceVersion).to.equal(created.metadata.resourceVersion);
    expect(double.counters.noopApplies).to.equal(1);

    const changed = {
      ...body,
      spec: {
        plane: 'private',
        routes: [{ host: 'x', path: '/', claimedAt: '2020-01-01T00:00:00Z', endpoints: [] }],
      },
    };
    const err = (await ssa('someone-else', false, changed).catch((e: unknown) => e)) as {
      code: number;
    };
    expect(err.code).to.equal(409);
    const updated = (await ssa('detour-controller', true, changed)) as {
      metadata: { generation: number };
    };
    expect(updated.metadata.generation).to.equal(2);

    await custom.patchNamespacedCustomObjectStatus(
      {
        ...RT,
        namespace: 'a',
        name: 'detour-private',
        body: {
          apiVersion: 'detour.dev/v1alpha1',
          kind: 'RouteTable',
          metadata: { name: 'detour-private', namespace: 'a' },
          status: { skipped: [], conflicts: [] },
        },
        fieldManager: 'detour-controller',
        force: true,
      },
      apply,
    );
    const table = (await custom.getNamespacedCustomObject({
      ...RT,
      namespace: 'a',
      name: 'detour-private',
    })) as {
      status: unknown;
      spec: { routes: unknown[] };
    };
    expect(table.status).to.deep.equal({ skipped: [], conflicts: [] });
    expect(table.spec.routes).to.have.length(1);
    const listed = (await custom.listClusterCustomObject({
      ...RT,
      labelSelector: 'detour.dev/plane=private',
    })) as {
      items: unknown[];
    };
    expect(listed.items).to.have.length(1);
  });

  it('calls a MutatingWebhookConfiguration on pod create over TLS verified with its caBundle', async () => {
    const certs = makeCertificates(['detour-webhook.detour-system.svc']);
    let reviews = 0;
    const webhook = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        reviews++;
        const review = JSON.parse(text) as { request: { uid: string } };
        const patch = [{ op: 'add', path: '/metadata/annotations/injected', value: 'yes' }];
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: review.request.uid,
              allowed: true,
              patchType: 'JSONPatch',
              patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
            },
          }),
        );
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    const port = (webhook.address() as AddressInfo).port;
    try {
      const admission = double.kubeConfig().makeApiClient(AdmissionregistrationV1Api);
      await admission.createMutatingWebhookConfiguration({
        body: {
          metadata: { name: 'detour' },
          webhooks: [
            {
              name: 'inject.detour.dev',
              admissionReviewVersions: ['v1'],
              sideEffects: 'None',
              failurePolicy: 'Fail',
              clientConfig: {
                service: {
                  namespace: 'detour-system',
                  name: 'detour-webhook',
                  path: '/mutate',
                  port,
                },
                caBundle: 'bm90IGEgQ0E=', // wrong until patched below: the call must fail
              },
              rules: [
                {
                  operations: ['CREATE'],
                  apiGroups: [''],
                  apiVersions: ['v1'],
                  resources: ['pods'],
                },
              ],
            },
          ],
        },
      });
      const refused = (await client
        .createPod({ namespace: 'a', name: 'p0', ip: '127.0.0.2' })
        .catch((e: unknown) => e)) as { code: number };
      expect(refused.code).to.equal(500);
      await admission.patchMutatingWebhookConfiguration(
        {
          name: 'detour',
          body: [
            {
              op: 'replace',
              path: '/webhooks/0/clientConfig/caBundle',
              value: Buffer.from(certs.caPem).toString('base64'),
            },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      await client.createPod({ namespace: 'a', name: 'p1', ip: '127.0.0.2' });
      const pod = await core.readNamespacedPod({ namespace: 'a', name: 'p1' });
      expect(pod.metadata?.annotations?.injected).to.equal('yes');
      expect(reviews).to.equal(1);
      expect(double.counters.webhookCalls).to.equal(2);
    } finally {
      webhook.close();
    }
  });
});
