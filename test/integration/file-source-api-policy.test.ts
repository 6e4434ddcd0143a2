import { expect } from 'chai';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../sidecar/sources/file-source.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { memoryLog, type MemoryLog } from '../support/kube-stack.js';
import { send, startProxy, type TestProxy } from '../support/proxy.js';
import { startUpstream, type EchoBody, type TestUpstream } from '../support/upstream.js';

/**
 * ApiPolicies in a `file:` source, through a real proxy and a real upstream: a policy
 * written in the file applies, one removed from it lifts within a second, and the swap
 * drops no request (the proxy swaps whole tables: sidecar/route-table.ts).
 */
const config = loadPlaneConfig('private', {});

function cluster(upstream: TestUpstream, policies: string[]): string {
  return [
    `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: { routable: 'true' }
  annotations: { privateHosts: web.shop, privatePaths: '${String(upstream.port)}:/' }
spec:
  containers: [{ name: app, ports: [{ containerPort: ${String(upstream.port)} }] }]
status:
  phase: Running
  podIP: ${upstream.host}
  conditions: [{ type: Ready, status: 'True' }]
`,
    ...policies,
  ].join('---\n');
}

const TAGGING = `apiVersion: detour.dev/v1alpha1
kind: ApiPolicy
metadata: { name: tagging, namespace: shop }
spec:
  requestHeaders: { set: { x-tenant: shop } }
  responseHeaders: { set: { x-policy: tagging } }
`;

const INVALID = `apiVersion: detour.dev/v1alpha1
kind: ApiPolicy
metadata: { name: broken, namespace: shop }
spec:
  rateLimit: { requests: 0, per: minute }
`;

describe('file source: ApiPolicies and hot reload, through a real proxy', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  let upstream: TestUpstream;
  let proxy: TestProxy;
  let source: FileSource;
  let log: MemoryLog;

  /** Replaces the file the way an editor or a ConfigMap update does (rename over it). */
  async function replaceFile(text: string): Promise<void> {
    const temp = join(dir, '.cluster.yaml.tmp');
    await writeFile(temp, text);
    await rename(temp, file);
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'detour-file-policy-'));
    file = join(dir, 'cluster.yaml');
    upstream = await startUpstream('web', '127.0.0.41');
    proxy = await startProxy();
    log = memoryLog('info');
    source = new FileSource({ path: file, config, logger: log.logger, debounceMs: 50 });
  });

  afterEach(async () => {
    await source.stop();
    await proxy.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a policy from the file; removed from it, the policy lifts within a second and no request fails', async () => {
    await writeFile(file, cluster(upstream, [TAGGING, INVALID]));
    await source.start((table) => {
      proxy.proxy.setTable(table);
    });
    const first = await send(proxy.origin, 'web.shop', '/items');
    expect(first.status).to.equal(200);
    expect(first.headers['x-policy']).to.equal('tagging');
    expect((first.json() as unknown as EchoBody).headers['x-tenant']).to.equal('shop');
    // The invalid policy is logged and skipped; the valid one still applies.
    const invalid = log.records().find((l) => l.msg === 'ApiPolicy invalid; skipped');
    expect(invalid?.apiPolicy).to.equal('shop/broken');
    expect(String(invalid?.problem)).to.match(/^spec\.rateLimit\.requests: /);

    // Two clients keep calling while the file changes under them.
    const answers: { started: number; at: number; status: number; tagged: boolean }[] = [];
    let calling = true;
    const client = async (): Promise<void> => {
      while (calling) {
        const started = Date.now();
        const a = await send(proxy.origin, 'web.shop', '/items');
        answers.push({
          started,
          at: Date.now(),
          status: a.status,
          tagged: a.headers['x-policy'] !== undefined,
        });
      }
    };
    const clients = [client(), client()];
    await new Promise((r) => setTimeout(r, 200));
    const removedAt = Date.now();
    await replaceFile(cluster(upstream, [INVALID]));
    await new Promise((r) => setTimeout(r, 1_500));
    calling = false;
    await Promise.all(clients);

    expect(answers.filter((a) => a.status !== 200)).to.deep.equal([]);
    const after = answers.filter((a) => a.at >= removedAt);
    const firstUntagged = after.find((a) => !a.tagged);
    expect(firstUntagged, 'the policy lifted').to.not.equal(undefined);
    expect(firstUntagged!.at - removedAt).to.be.below(1_000);
    // Once lifted it stays lifted: a request never sees an older table after a newer one.
    const later = answers.filter((a) => a.started > firstUntagged!.at);
    expect(later.length).to.be.greaterThan(0);
    expect(later.filter((a) => a.tagged)).to.deep.equal([]);
    expect(answers.filter((a) => a.tagged).length).to.be.greaterThan(0);
  });
});
