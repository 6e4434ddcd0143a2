import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { podProjection } from '../../shared/pod-projection.js';
import { parseClusterYaml } from '../../sidecar/sources/cluster-yaml.js';
import type { V1Pod } from '@kubernetes/client-node';
import { routablePod } from '../support/routable-pod.js';

const DIR = fileURLToPath(new URL('../testdata/compile/', import.meta.url));
const SEED = fileURLToPath(new URL('../../manifests/examples/seed/cluster.yaml', import.meta.url));
const inputs = [
  SEED,
  ...readdirSync(DIR)
    .filter(
      (f) =>
        f.endsWith('.yaml') && !f.endsWith('.routetables.yaml') && !f.endsWith('.apipolicies.yaml'),
    )
    .map((f) => DIR + f),
];

describe('podProjection (what the controller caches of a pod)', () => {
  for (const plane of ['private', 'public'] as const) {
    const config = loadPlaneConfig(plane, {});
    for (const input of inputs) {
      it(`compiles ${input.replace(/.*\//, '')} (${plane}) to the same tables as whole pods`, () => {
        const objects = parseClusterYaml(readFileSync(input, 'utf8'), input);
        expect(objects.pods.length).to.be.greaterThan(0);
        const projected = { ...objects, pods: objects.pods.map(podProjection(config)) };
        expect(compile(projected, config)).to.deep.equal(compile(objects, config));
      });
    }
  }

  it('drops managedFields, env, volumes and foreign annotations; keeps the routing ones', () => {
    const config = loadPlaneConfig('private', {});
    // Plain JSON, as the API server sends it (client-node's classes are types only).
    const wire: unknown = JSON.parse(
      JSON.stringify(routablePod({ hosts: 'web.shop', paths: '8080:/' })),
    );
    const pod = wire as V1Pod & { metadata: { annotations: Record<string, string> } };
    pod.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] = 'x'.repeat(4096);
    Object.assign(pod.metadata, {
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: {} }],
    });
    Object.assign(pod.spec!, { volumes: [{ name: 'v', emptyDir: {} }] });
    Object.assign(pod.spec!.containers[0]!, { env: [{ name: 'A', value: 'b'.repeat(1024) }] });
    const kept = podProjection(config)(pod);
    expect(kept.metadata?.managedFields).to.equal(undefined);
    expect(kept.metadata?.annotations).to.deep.equal({
      privateHosts: 'web.shop',
      privatePaths: '8080:/',
    });
    expect(kept.spec?.containers[0]?.env).to.equal(undefined);
    expect(kept.spec?.volumes).to.equal(undefined);
    expect(JSON.stringify(kept).length).to.be.below(JSON.stringify(pod).length / 5);
  });
});
