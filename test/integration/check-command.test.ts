import { expect } from 'chai';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runChecks } from '../../ops/check-runner.js';
import type { CheckLine } from '../../ops/check-report.js';
import { ClusterReader } from '../../ops/cluster-reader.js';
import { findResource, type KubeObject } from '../support/api-server/resources.js';
import type { ApiServerDouble } from '../support/api-server/server.js';
import { runDetour } from '../support/cli.js';
import { startSelfSigned } from '../support/self-signed-webhook.js';
import {
  crd,
  deployment,
  endpointSlice,
  mutatingWebhookConfiguration,
  namespace,
  pod,
  PROXY_IMAGE,
  replicaPod,
  routeTable,
  startInstall,
  type TestWebhook,
} from '../support/detour-install.js';

function put(api: ApiServerDouble, obj: KubeObject): void {
  const def = findResource(obj.kind ?? '');
  const current = api.store.get(def, obj.metadata.namespace, obj.metadata.name ?? '');
  if (current === undefined) api.seed(obj);
  else
    api.store.replace(def, {
      ...obj,
      apiVersion: current.apiVersion,
      metadata: { ...current.metadata, ...obj.metadata },
    });
}

function failures(lines: readonly CheckLine[]): CheckLine[] {
  return lines.filter((l) => l.outcome === 'fail');
}

/**
 * `detour check` against a detour install in the API-server double, through the real
 * client-node: a healthy install passes, and each broken part fails naming its culprit.
 */
describe('detour check', function () {
  this.timeout(60_000);
  let webhook: TestWebhook;
  let api: ApiServerDouble;

  before(async () => {
    webhook = await startSelfSigned();
  });
  after(async () => {
    await webhook.webhook.close();
  });
  beforeEach(async () => {
    api = await startInstall(webhook);
  });
  afterEach(async () => {
    await api.close();
  });

  const check = async (pre = false): Promise<CheckLine[]> =>
    (await runChecks(new ClusterReader(api.kubeConfig()), pre)).lines;

  it('passes a healthy install, calling the webhook with a dry-run pod that is not stored', async () => {
    const lines = await check();
    expect(failures(lines)).to.deep.equal([]);
    const dryRun = lines.find((l) => l.description.includes('sidecar is injected'));
    expect(dryRun?.outcome).to.equal('pass');
    expect(api.counters.webhookCalls).to.equal(1);
    expect(api.store.list(findResource('Pod'), 'shop').map((p) => p.metadata.name)).to.deep.equal([
      'web',
    ]);
    expect(lines.find((l) => l.description.includes('apipolicies'))?.outcome).to.equal('skip');
  });

  it('fails a CRD that is not established, or missing', async () => {
    put(api, crd('routetables.detour.dev', false));
    api.store.delete(findResource('CustomResourceDefinition'), undefined, 'hostgrants.detour.dev');
    const failed = failures(await check());
    expect(failed.map((f) => f.culprit)).to.include.members([
      'routetables.detour.dev',
      'hostgrants.detour.dev',
    ]);
    expect(failed.find((f) => f.culprit === 'routetables.detour.dev')?.detail).to.match(
      /Established is False/,
    );
    expect(failed.find((f) => f.culprit === 'hostgrants.detour.dev')?.detail).to.equal('not found');
  });

  it('fails a control plane that is not ready', async () => {
    put(api, deployment(1));
    const [f] = failures(await check());
    expect(f?.culprit).to.equal('detour-system/detour');
    expect(f?.detail).to.equal('1/2 replicas ready, 2/2 updated');
    expect(f?.hint).to.match(/kubectl -n detour-system/);
  });

  it('fails a webhook Service without ready endpoints', async () => {
    put(api, endpointSlice(false));
    const [f] = failures(await check());
    expect(f?.culprit).to.equal('detour-system/detour-webhook');
  });

  it('fails a caBundle that does not verify the serving certificate, naming the webhook error', async () => {
    const other = await startSelfSigned();
    await other.webhook.close();
    put(api, mutatingWebhookConfiguration(other.bundle.caPem));
    const failed = failures(await check());
    expect(failed.map((f) => [f.group, f.culprit])).to.deep.equal([
      ['webhook', 'detour-system/detour-a'],
      ['webhook', failed[1]?.culprit],
    ]);
    expect(failed[0]?.detail).to.match(
      /^namespace\.detour\.dev: unable to verify the first certificate/,
    );
    expect(failed[1]?.detail).to.match(/failed calling webhook "namespace\.detour\.dev"/);
    expect(failed[1]?.detail).to.match(/certificate/i);
    expect(failed[1]?.culprit).to.match(/^shop\/detour-check-[0-9a-f]{6}$/);
  });

  it('fails a replica whose certificate the caBundle does not verify, though the one the API server called is fine', async () => {
    const other = await startSelfSigned();
    try {
      await api.close();
      api = await startInstall(webhook, {
        resolvePod: (_ns, name) => ({
          host: '127.0.0.1',
          port: name === 'detour-b' ? other.webhook.port : webhook.webhook.port,
        }),
      });
      put(api, endpointSlice(true, ['detour-a', 'detour-b']));
      api.seed(replicaPod('detour-b', 1));
      const failed = failures(await check());
      expect(failed.map((f) => f.culprit)).to.deep.equal(['detour-system/detour-b']);
      expect(failed[0]?.hint).to.match(/not in the caBundle/);
    } finally {
      await other.webhook.close();
    }
  });

  it('fails an empty caBundle', async () => {
    put(api, mutatingWebhookConfiguration(''));
    const failed = failures(await check());
    expect(failed.filter((f) => f.description.endsWith('has a caBundle'))).to.have.length(2);
  });

  it('fails when the webhook does not inject (a namespace the MWC does not select)', async () => {
    // The labelled namespace is the only one tried; an objectSelector-less MWC copy that
    // selects nothing stands for a broken configuration.
    const mwc = mutatingWebhookConfiguration(webhook.bundle.caPem) as KubeObject & {
      webhooks: { namespaceSelector: unknown }[];
    };
    for (const w of mwc.webhooks) w.namespaceSelector = { matchLabels: { nothing: 'here' } };
    put(api, mwc);
    const [f] = failures(await check());
    expect(f?.detail).to.match(/came back without detour-proxy/);
    expect(f?.culprit).to.equal('shop');
  });

  it('fails a missing MutatingWebhookConfiguration, naming it', async () => {
    api.store.delete(findResource('MutatingWebhookConfiguration'), undefined, 'detour');
    const failed = failures(await check());
    expect(failed.map((f) => [f.culprit, f.detail])).to.deep.equal([
      ['mutatingwebhookconfiguration/detour', 'not found: no pod is injected'],
    ]);
  });

  it('says the API server refused the credentials, and checks nothing else', async () => {
    const run = await runChecks(new ClusterReader(api.kubeConfig('not-a-token')), false);
    expect(run.reached).to.equal(false);
    expect(run.lines).to.have.length(1);
    expect(run.lines[0]?.detail).to.match(
      /^the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ refused the request: \/version: HTTP 401 Unauthorized/,
    );
  });

  it('fails pods of a labelled namespace created before labelling, not opted-out ones', async () => {
    api.seed(pod({ namespace: 'shop', name: 'legacy' }));
    api.seed(
      pod({ namespace: 'shop', name: 'opted-out', labels: { 'detour.dev/inject': 'false' } }),
    );
    api.seed(pod({ namespace: 'default', name: 'elsewhere' }));
    const failed = failures(await check());
    expect(failed.map((f) => f.culprit)).to.deep.equal(['shop/legacy']);
    expect(failed[0]?.hint).to.match(/rollout restart/);
  });

  it("fails proxies whose image differs from the control plane's", async () => {
    api.seed(
      pod({ namespace: 'shop', name: 'old', proxyImage: 'ghcr.io/detour-dev/detour:0.0.9' }),
    );
    const [f] = failures(await check());
    expect(f?.culprit).to.equal('shop/old');
    expect(f?.detail).to.equal(
      `runs ghcr.io/detour-dev/detour:0.0.9; the control plane injects ${PROXY_IMAGE}`,
    );
  });

  it('fails host conflicts and refused host claims from RouteTable status', async () => {
    put(
      api,
      routeTable({
        namespace: 'shop',
        routes: [{ host: 'web.shop', path: '/', pod: 'web', ip: '198.18.0.20' }],
        status: {
          conflicts: [{ host: 'pay.shop', path: '/', winner: 'pay', loser: 'shop' }],
          skipped: [
            {
              namespace: 'shop',
              pod: 'web',
              annotation: 'privateHosts',
              value: 'api.github.com',
              reason: 'namespace shop may not claim host api.github.com',
            },
          ],
        },
      }),
    );
    const failed = failures(await check());
    expect(failed.map((f) => f.culprit)).to.deep.equal(['shop', 'shop/web']);
    expect(failed[0]?.detail).to.equal('pay.shop/ is served by pay; the claim of shop is dropped');
    expect(failed[1]?.detail).to.match(/api\.github\.com.*may not claim/);
  });

  it('fails a routable pod Ready for minutes that its RouteTable does not name (controller stopped)', async () => {
    const since = new Date(Date.now() - 300_000).toISOString();
    const fresh = new Date().toISOString();
    for (const [name, readySince] of [
      ['late', since],
      ['just-ready', fresh],
    ] as const) {
      api.seed(
        pod({
          namespace: 'shop',
          name,
          proxyImage: PROXY_IMAGE,
          ip: name === 'late' ? '198.18.0.21' : '198.18.0.22',
          labels: { routable: 'true' },
          annotations: { privateHosts: 'web.shop' },
          readySince,
        }),
      );
    }
    api.seed(namespace('empty'));
    api.seed(
      pod({
        namespace: 'empty',
        name: 'orphan',
        labels: { routable: 'true' },
        annotations: { privateHosts: 'a.empty' },
        readySince: since,
      }),
    );
    const failed = failures(await check());
    expect(failed.map((f) => f.culprit)).to.deep.equal(['empty/orphan', 'shop/late']);
    expect(failed[0]?.detail).to.match(
      /no RouteTable in empty, though the pod has been Ready for 300 s/,
    );
  });

  describe('--pre', () => {
    it('passes a new enough cluster where the user may install', async () => {
      expect(failures(await check(true))).to.deep.equal([]);
    });

    it('fails Kubernetes older than 1.29, missing rights, and namespaces whose Pod Security forbids NET_ADMIN', async () => {
      await api.close();
      api = await startInstall(webhook, {
        version: { major: '1', minor: '28+', gitVersion: 'v1.28.3-gke.1' },
        authorize: (r) => !(r.verb === 'create' && r.resource === 'customresourcedefinitions'),
      });
      api.seed(
        namespace('locked', {
          'detour.dev/injection': 'enabled',
          'pod-security.kubernetes.io/enforce': 'restricted',
        }),
      );
      const failed = failures(await check(true));
      expect(failed.map((f) => [f.group, f.culprit])).to.deep.equal([
        ['kubernetes-version', undefined],
        ['pre-install permissions', 'customresourcedefinitions.apiextensions.k8s.io'],
        ['pod security', 'locked'],
      ]);
      expect(failed[0]?.detail).to.equal('the API server is v1.28.3-gke.1');
      expect(failed[2]?.hint).to.match(/detour\.dev\/capture: proxy-env/);
    });
  });

  describe('the command', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-check-'));
    });
    after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('prints grouped lines with hints and exits 1 on a failure; --output json says the same', async () => {
      put(api, deployment(0));
      const kubeconfig = path.join(dir, 'config');
      fs.writeFileSync(kubeconfig, api.kubeConfigYaml());
      const text = await runDetour(['check', '--kubeconfig', kubeconfig, '--context', 'double']);
      expect(text.code, text.stderr).to.equal(1);
      expect(text.stdout).to.match(
        /^kubernetes-api\n-+\n√ can reach the Kubernetes API server \(v1\.31\.0\)$/m,
      );
      expect(text.stdout).to.match(
        /^× the control plane Deployment detour-system\/detour is ready \[detour-system\/detour\]\n {4}0\/2 replicas ready, 2\/2 updated\n {4}hint: /m,
      );
      expect(text.stdout).to.match(/Status check results are × \(1 failed\)\n$/);
      const json = await runDetour(['check', '--kubeconfig', kubeconfig, '--output', 'json']);
      expect(json.code).to.equal(1);
      const doc = JSON.parse(json.stdout) as {
        success: boolean;
        categories: { categoryName: string; checks: { outcome: string; culprit?: string }[] }[];
      };
      expect(doc.success).to.equal(false);
      const plane = doc.categories.find((c) => c.categoryName === 'control plane');
      expect(plane?.checks.filter((c) => c.outcome === 'fail').map((c) => c.culprit)).to.deep.equal(
        ['detour-system/detour'],
      );
    });

    it('names an unknown --context', async () => {
      const kubeconfig = path.join(dir, 'config');
      fs.writeFileSync(kubeconfig, api.kubeConfigYaml());
      const r = await runDetour(['check', '--kubeconfig', kubeconfig, '--context', 'nope']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(
        /flag --context: invalid value "nope": no such context; known: double/,
      );
    });

    for (const kind of ['refuses connections', 'accepts and never answers'] as const) {
      it(`says so in one line and exits 1 within 10 s when the API server ${kind}`, async () => {
        const held: net.Socket[] = [];
        const server = net.createServer((socket) => {
          socket.on('error', () => undefined);
          held.push(socket); // held open, never answered
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const port = (server.address() as net.AddressInfo).port;
        if (kind === 'refuses connections') await new Promise((resolve) => server.close(resolve));
        const kubeconfig = path.join(dir, `unreachable-${port}`);
        fs.writeFileSync(
          kubeconfig,
          api.kubeConfigYaml().replace(api.url, `https://127.0.0.1:${port}`),
        );
        const started = Date.now();
        const r = await runDetour(['check', '--kubeconfig', kubeconfig], { timeoutMs: 15_000 });
        const ms = Date.now() - started;
        if (kind === 'accepts and never answers') {
          for (const socket of held) socket.destroy();
          server.close();
        }
        expect(r.code).to.equal(1);
        expect(ms).to.be.below(10_000);
        expect(r.stdout.trimEnd().split('\n')).to.have.length(1);
        expect(r.stdout).to.match(
          new RegExp(
            `^× cannot reach the Kubernetes API server at https://127\\.0\\.0\\.1:${port}: ${kind === 'refuses connections' ? 'ECONNREFUSED' : 'no answer in time'}`,
          ),
        );
      });
    }
  });
});
