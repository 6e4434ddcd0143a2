import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileWithOutcomes } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { parseClusterYaml } from '../../sidecar/sources/cluster-yaml.js';
import { REPO_ROOT } from '../support/cli.js';
import { find, hasKubectl, ofKind, render, type K8sObject } from '../support/manifests.js';

/**
 * manifests/examples/api-management: api-manager (the forwardAuth service) and the
 * ApiPolicy for the seed's my-application, rendered with the real `kubectl kustomize`.
 */
const DIR = 'manifests/examples/api-management';

interface Container {
  command?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
}

describe('manifests: the API-management example', function () {
  this.timeout(120_000);
  let objects: K8sObject[] = [];
  before(async function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
    objects = await render(DIR);
  });

  const pod = (): PodSpec =>
    (find(objects, 'Deployment', 'api-manager').spec as { template: { spec: PodSpec } }).template
      .spec;

  it("runs api-manager.mjs, mounted from a ConfigMap holding the file as it is (the demo's copy)", () => {
    const spec = pod();
    const container = spec.containers[0];
    const mount = container?.volumeMounts?.find((m) => m.mountPath === '/app');
    expect(container?.command).to.deep.equal(['node', '/app/api-manager.mjs']);
    const volume = spec.volumes?.find((v) => v.name === mount?.name);
    const configMap = ofKind(objects, 'ConfigMap').find(
      (c) => c.metadata.name === volume?.configMap?.name,
    );
    expect(configMap, 'the mounted ConfigMap is rendered (with its hash suffix)').to.not.equal(
      undefined,
    );
    expect(
      (configMap as unknown as { data: Record<string, string> }).data['api-manager.mjs'],
    ).to.equal(readFileSync(join(REPO_ROOT, DIR, 'api-manager.mjs'), 'utf8'));
  });

  it('gives api-manager its consumers from a Secret, as a JSON map of key to consumer', () => {
    const env = pod().containers[0]?.env ?? [];
    const ref = env.find((e) => e.name === 'API_MANAGER_CONSUMERS')?.valueFrom?.secretKeyRef;
    const secret = ofKind(objects, 'Secret').find((s) => s.metadata.name === ref?.name);
    const data = (secret as { data?: Record<string, string> } | undefined)?.data ?? {};
    const consumers = JSON.parse(
      Buffer.from(data[ref?.key ?? ''] ?? '', 'base64').toString('utf8'),
    ) as Record<string, string>;
    expect(Object.values(consumers)).to.include.members(['alice', 'bob']);
  });

  it('calls the Service it ships, and keys the rate limit on the consumer the service names', () => {
    const policy = find(objects, 'ApiPolicy', 'my-application-consumers') as K8sObject & {
      spec: {
        forwardAuth: { url: string; responseHeaders: string[] };
        rateLimit: { key: string };
      };
    };
    expect(policy.metadata.namespace).to.equal('my-namespace');
    const service = find(objects, 'Service', 'api-manager') as K8sObject & {
      spec: { ports: { port: number }[] };
    };
    const url = new URL(policy.spec.forwardAuth.url);
    expect(url.hostname).to.equal(
      `${service.metadata.name}.${service.metadata.namespace ?? ''}.svc.cluster.local`,
    );
    expect(service.spec.ports.map((p) => p.port)).to.include(Number(url.port));
    expect(policy.spec.forwardAuth.responseHeaders).to.deep.equal(['x-consumer-id']);
    expect(policy.spec.rateLimit.key).to.equal('header:x-consumer-id');
  });

  it("attaches to the seed's my-application routes in both planes, Accepted and unconflicted", () => {
    const seed = parseClusterYaml(
      readFileSync(join(REPO_ROOT, 'manifests/examples/seed/cluster.yaml'), 'utf8'),
      'cluster.yaml',
    );
    const apiPolicies = ofKind(objects, 'ApiPolicy');
    for (const plane of ['private', 'public'] as const) {
      const result = compileWithOutcomes({ ...seed, apiPolicies }, loadPlaneConfig(plane, {}));
      const [outcome] = result.apiPolicies;
      expect(outcome?.problem, plane).to.equal(undefined);
      expect(outcome?.lost, plane).to.deep.equal([]);
      expect(outcome?.routes, plane).to.have.length(1);
      const route = result.tables.flatMap((t) => t.spec.routes).find((r) => r.path === '/nodejs');
      expect(route?.policy?.name, plane).to.equal('my-namespace/my-application-consumers');
      expect(route?.policy?.forwardAuth?.cacheSeconds, plane).to.equal(0);
    }
  });
});
