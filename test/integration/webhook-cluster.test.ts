import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import YAML from 'yaml';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { ApiServerDouble } from '../support/api-server/server.js';
import { REPO_ROOT } from '../support/cli.js';
import { webhookRequest } from '../support/webhook-client.js';
import type { Pod } from '../../webhook/pod-types.js';
import { startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';

/**
 * The webhook as deployed: the real `detour webhook` process makes its own CA, patches
 * the caBundle of the real manifest's MutatingWebhookConfiguration in the API-server
 * double, and the double then calls it (verifying TLS against that caBundle) for every
 * pod created through the real client-node.
 */
describe('detour webhook against the API-server double', function () {
  this.timeout(120_000);
  let api: ApiServerDouble;
  let dir: string;
  let kubeconfig: string;
  const replicas: WebhookProcess[] = [];
  let target = 0;

  before(async () => {
    api = await ApiServerDouble.start({
      // The Service detour-webhook.detour-system:443 is whichever replica the test picks.
      resolveService: () => ({ host: '127.0.0.1', port: replicas[target]?.port ?? 1 }),
    });
    for (const [name, labels] of [
      ['shop', { 'detour.dev/injection': 'enabled' }],
      ['plain', {}],
      ['detour-system', {}],
    ] as const) {
      api.seed({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } },
      });
    }
    const mwc = YAML.parse(
      fs.readFileSync(path.join(REPO_ROOT, 'manifests/base/mutating-webhook.yaml'), 'utf8'),
    ) as Parameters<ApiServerDouble['seed']>[0];
    api.seed(mwc);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-webhook-cluster-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
  });

  after(async () => {
    for (const r of replicas) await r.stop();
    await api.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const mwcApi = (): AdmissionregistrationV1Api =>
    api.kubeConfig().makeApiClient(AdmissionregistrationV1Api);
  const core = (): CoreV1Api => api.kubeConfig().makeApiClient(CoreV1Api);
  // client-node types bodies as its model classes; the API takes plain JSON.
  const createPod = (namespace: string, body: Pod): Promise<V1Pod> =>
    core().createNamespacedPod({ namespace, body });

  async function bundleCas(): Promise<string[][]> {
    const mwc = await mwcApi().readMutatingWebhookConfiguration({ name: 'detour' });
    return (mwc.webhooks ?? []).map((w) =>
      (
        Buffer.from(w.clientConfig.caBundle ?? '', 'base64')
          .toString('utf8')
          .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
      ).map((pem) => new X509Certificate(pem).fingerprint256),
    );
  }

  it('patches the caBundle of every webhook entry with its own CA', async () => {
    replicas.push(
      await startWebhookProcess(['--kubeconfig', kubeconfig], { POD_NAMESPACE: 'detour-system' }),
    );
    const patched = await replicas[0]!.waitForLog('patched caBundle');
    expect(patched.webhooks).to.equal(2);
    const cas = await bundleCas();
    expect(cas).to.have.length(2);
    expect(cas[0]).to.have.length(1);
    expect(cas[1]).to.deep.equal(cas[0]);
    // The bundle verifies the serving certificate for the Service name.
    const mwc = await mwcApi().readMutatingWebhookConfiguration({ name: 'detour' });
    const ca = Buffer.from(mwc.webhooks![0]!.clientConfig.caBundle!, 'base64').toString('utf8');
    const r = await webhookRequest(replicas[0]!.port, ca, { path: '/healthz' });
    expect(r.status).to.equal(200);
  });

  it('injects pods created in a labelled namespace (generateName only)', async () => {
    const created = await createPod('shop', {
      metadata: { generateName: 'web-', labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
    });
    expect(created.spec?.initContainers?.map((c) => c.name)).to.deep.equal([
      'detour-init',
      'detour-proxy',
    ]);
    expect(created.metadata?.annotations?.['detour.dev/status']).to.be.a('string');
    new PodModel(
      JSON.parse(JSON.stringify(created)) as ConstructorParameters<typeof PodModel>[0],
    ).validate();
  });

  it('injects an opted-in pod elsewhere and leaves other pods alone', async () => {
    const make = (name: string, labels: Record<string, string>): Promise<V1Pod> =>
      createPod('plain', {
        metadata: { name, labels },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      });
    const opted = await make('opted', { 'detour.dev/inject': 'true' });
    const other = await make('other', {});
    expect(opted.spec?.initContainers?.map((c) => c.name)).to.include('detour-proxy');
    expect(other.spec?.initContainers).to.equal(undefined);
  });

  it('denies a pod with an invalid annotation, naming it', async () => {
    let error: unknown;
    try {
      await createPod('shop', {
        metadata: { name: 'bad', annotations: { 'detour.dev/proxy-memory': 'lots' } },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      });
    } catch (err) {
      error = err;
    }
    expect(String((error as { body?: unknown }).body ?? error)).to.contain(
      'detour.dev/proxy-memory',
    );
  });

  it('a second replica adds its CA without removing the first one', async () => {
    replicas.push(
      await startWebhookProcess(['--kubeconfig', kubeconfig], { POD_NAMESPACE: 'detour-system' }),
    );
    await replicas[1]!.waitForLog('patched caBundle');
    const cas = await bundleCas();
    expect(cas[0]).to.have.length(2);
    // Both replicas are trusted through the bundle: the API server may call either.
    for (const index of [0, 1]) {
      target = index;
      const pod = await createPod('shop', {
        metadata: { generateName: 'r-' },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      });
      expect(pod.spec?.initContainers?.map((c) => c.name)).to.include('detour-proxy');
    }
  });

  it('keeps retrying the caBundle patch while the API server is down', async () => {
    await api.stop();
    const late = await startWebhookProcess(['--kubeconfig', kubeconfig], {
      POD_NAMESPACE: 'detour-system',
    });
    replicas.push(late);
    const failed = await late.waitForLog('caBundle patch failed');
    expect(failed.err).to.be.a('string');
    await api.resume();
    await late.waitForLog('patched caBundle', 60_000);
    expect((await bundleCas())[0]).to.have.length(3);
  });

  it('stops cleanly on SIGTERM', async () => {
    const code = await replicas[1]!.stop();
    expect(code).to.equal(0);
  });
});
