import { expect } from 'chai';
import { compileWithOutcomes, type CompileResult } from '../../shared/compile.js';
import { loadPlaneConfig, type Plane } from '../../shared/plane-config.js';
import { routablePod } from '../support/routable-pod.js';

/**
 * ApiPolicy selection through the compiler (shared/compile/api-policies.ts); the
 * golden case test/testdata/compile/api-policies.yaml holds the full picture.
 */
function policy(name: string, spec: Record<string, unknown>, created?: string): unknown {
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'ApiPolicy',
    metadata: { name, namespace: 'my-namespace', generation: 3, creationTimestamp: created },
    spec,
  };
}

function run(apiPolicies: unknown[], plane: Plane = 'private'): CompileResult {
  const config = loadPlaneConfig(plane, {});
  const pod = routablePod({
    annotations: {
      [config.hostsAnnotation]: 'my-application.my-namespace',
      [config.pathsAnnotation]: '3000:/nodejs 3000:/',
    },
  });
  return compileWithOutcomes({ pods: [pod], secrets: [], apiPolicies }, config);
}

function policyNames(result: CompileResult): Record<string, string | undefined> {
  return Object.fromEntries(
    (result.tables[0]?.spec.routes ?? []).map((r) => [r.path, r.policy?.name]),
  );
}

describe('compile: ApiPolicies', () => {
  it('gives the same tables and outcomes whatever the order of the objects', () => {
    const objects = [
      policy('a', { paths: ['/nodejs'] }, '2026-01-02T00:00:00Z'),
      policy('b', { paths: ['/nodejs'] }, '2026-01-01T00:00:00Z'),
      policy('c', { hosts: ['my-application.my-namespace'] }),
      policy('d', { rateLimit: { requests: 0, per: 'second' } }),
    ];
    const forward = run(objects);
    const backward = run([...objects].reverse());
    expect(backward).to.deep.equal(forward);
    expect(policyNames(forward)).to.deep.equal({
      '/': 'my-namespace/c',
      '/nodejs': 'my-namespace/c',
    });
  });

  it('breaks a tie of specificity by age, then by name, and says why', () => {
    const same = '2026-01-01T00:00:00Z';
    const result = run([
      policy('zeta', { paths: ['/nodejs'] }, same),
      policy('alpha', { paths: ['/nodejs'] }, same),
      policy('young', { paths: ['/nodejs'] }, '2026-06-01T00:00:00Z'),
    ]);
    expect(policyNames(result)['/nodejs']).to.equal('my-namespace/alpha');
    const lost = Object.fromEntries(result.apiPolicies.map((o) => [o.name, o.lost]));
    expect(lost.zeta).to.deep.equal([
      {
        route: 'my-application.my-namespace/nodejs',
        winner: 'my-namespace/alpha',
        because: 'it is as old and its name sorts first',
      },
    ]);
    expect(lost.young?.[0]?.because).to.equal('it is older');
  });

  it('skips an invalid policy, naming the field, and routes the rest unchanged', () => {
    const without = run([]);
    const result = run([policy('bad', { forwardAuth: { url: 'ftp://x/' } })]);
    expect(result.tables).to.deep.equal(without.tables);
    const [outcome] = result.apiPolicies;
    expect(outcome?.problem).to.match(/^spec\.forwardAuth\.url: .*"ftp:\/\/x\/"/);
    expect(outcome?.routes).to.deep.equal([]);
    expect(outcome?.generation).to.equal(3);
  });

  it('attaches only in the planes a policy selects, and says which plane reports it', () => {
    const publicOnly = policy('edge', { planes: ['public'] });
    expect(policyNames(run([publicOnly], 'private'))['/']).to.equal(undefined);
    const result = run([publicOnly], 'public');
    expect(policyNames(result)['/']).to.equal('my-namespace/edge');
    expect(result.apiPolicies[0]?.reportedBy).to.equal('public');
    const invalidPublic = policy('x', { planes: ['public'], rateLimit: {} });
    expect(run([invalidPublic]).apiPolicies[0]?.reportedBy).to.equal('public');
    expect(run([policy('y', {})]).apiPolicies[0]?.reportedBy).to.equal('private');
  });

  it('matches policy paths by segment against the normalised route path', () => {
    const result = run([policy('n', { paths: ['/nodejs/./'] }), policy('f', { paths: ['/node'] })]);
    expect(policyNames(result)).to.deep.equal({ '/': undefined, '/nodejs': 'my-namespace/n' });
    expect(result.apiPolicies.find((o) => o.name === 'f')?.routes).to.deep.equal([]);
  });
});
