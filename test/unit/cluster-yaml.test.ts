import { expect } from 'chai';
import { parseClusterYaml } from '../../sidecar/sources/cluster-yaml.js';
import { DetourError } from '../../shared/errors.js';

function failure(text: string): DetourError {
  try {
    parseClusterYaml(text, 'cluster.yaml');
  } catch (err) {
    if (err instanceof DetourError) return err;
    throw err;
  }
  throw new Error('expected parseClusterYaml to throw');
}

const TABLE = `apiVersion: detour.dev/v1alpha1
kind: RouteTable
metadata: { name: detour-private, namespace: ns }
spec:
  plane: private
  routes:
    - { host: a.ns, path: /, claimedAt: '2024-01-01T00:00:00Z', endpoints: [{ ip: 127.0.0.1, port: 80, pod: p }] }
`;

describe('cluster YAML (the file source format)', () => {
  it('reads Pods, Secrets and RouteTables, ignoring other kinds and empty documents', () => {
    const objects = parseClusterYaml(
      `---
apiVersion: v1
kind: Namespace
metadata: { name: ns }
---
apiVersion: v1
kind: Pod
metadata: { name: p, namespace: ns }
---
---
apiVersion: v1
kind: Secret
metadata: { name: routing, namespace: ns }
stringData: { private-api-key: k }
---
${TABLE}`,
      'cluster.yaml',
    );
    expect(objects.pods.map((p) => p.metadata?.name)).to.deep.equal(['p']);
    expect(objects.secrets.map((s) => s.stringData)).to.deep.equal([{ 'private-api-key': 'k' }]);
    expect(objects.routeTables[0]?.spec.routes[0]?.host).to.equal('a.ns');
  });

  it('reads the items of a kind: List (kubectl get -o yaml)', () => {
    const objects = parseClusterYaml(
      `apiVersion: v1
kind: List
items:
  - { apiVersion: v1, kind: Pod, metadata: { name: a } }
  - { apiVersion: v1, kind: Pod, metadata: { name: b } }
`,
      'list.yaml',
    );
    expect(objects.pods).to.have.length(2);
  });

  it('reads Namespaces (for their labels) and HostGrants', () => {
    const objects = parseClusterYaml(
      `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { team: web } }
---
apiVersion: detour.dev/v1alpha1
kind: HostGrant
metadata: { name: g }
spec: { namespaces: [shop], hosts: ['*.example.com'] }
`,
      'grants.yaml',
    );
    expect(objects.namespaces.map((n) => n.metadata?.labels)).to.deep.equal([{ team: 'web' }]);
    expect(objects.hostGrants.map((g) => g.spec.hosts)).to.deep.equal([['*.example.com']]);
  });

  it('refuses an invalid HostGrant, naming the file, the line and the field', () => {
    expect(() =>
      parseClusterYaml(
        `apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: detour.dev/v1alpha1
kind: HostGrant
metadata: { name: g }
spec: { namespaces: [shop], hosts: ['api.example.com:443'] }
`,
        'grants.yaml',
      ),
    ).to.throw(/grants\.yaml:5: HostGrant g: spec\.hosts\.0/);
  });

  it('reads ApiPolicies unchecked: the compiler reports and skips an invalid one', () => {
    const objects = parseClusterYaml(
      `apiVersion: detour.dev/v1alpha1
kind: ApiPolicy
metadata: { name: limits, namespace: shop }
spec: { rateLimit: { requests: -1, per: minute } }
`,
      'policies.yaml',
    );
    expect(objects.apiPolicies.map((p) => p.metadata)).to.deep.equal([
      { name: 'limits', namespace: 'shop' },
    ]);
    expect(() => parseClusterYaml('kind: ApiPolicy\nmetadata: {}\n', 'p.yaml')).to.throw(
      /p\.yaml:1: ApiPolicy has no metadata\.name/,
    );
  });

  it('reads an empty file as no objects', () => {
    expect(parseClusterYaml('', 'empty.yaml')).to.deep.equal({
      pods: [],
      secrets: [],
      namespaces: [],
      hostGrants: [],
      apiPolicies: [],
      routeTables: [],
    });
    expect(parseClusterYaml('# only a comment\n', 'c.yaml').pods).to.deep.equal([]);
  });

  it('names the file and the line of a YAML syntax error', () => {
    const err = failure('apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n');
    expect(err.code).to.equal('DETOUR_E_BAD_SOURCE');
    expect(err.message).to.match(/^cluster\.yaml:\d+: /);
    expect(err.details).to.include({ source: 'cluster.yaml' });
    expect(err.details.line).to.be.a('number');
  });

  it('names the line of the document holding a bad object', () => {
    const err = failure(`apiVersion: v1
kind: Namespace
metadata: { name: ns }
---
apiVersion: v1
kind: Pod
metadata: { name: p, annotations: { privatePaths: 3000 } }
`);
    expect(err.message).to.equal(
      'cluster.yaml:5: Pod p: metadata.annotations must map strings to strings (quote numbers and booleans)',
    );
  });

  for (const [what, text, message] of [
    ['a document that is not a mapping', '- a\n- b\n', 'a document must be a mapping'],
    ['an object without kind', 'metadata: { name: x }\n', 'object has no kind'],
    ['a Pod without name', 'kind: Pod\nmetadata: {}\n', 'Pod has no metadata.name'],
    [
      'a non-numeric containerPort',
      "kind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c, ports: [{ containerPort: '80' }] }] }\n",
      'containerPort must be an integer',
    ],
    [
      'a Secret with a non-string value',
      'kind: Secret\nmetadata: { name: s }\ndata: { k: 1 }\n',
      'Secret s: data must map strings',
    ],
    [
      'a RouteTable with a bad path',
      TABLE.replace('path: /', 'path: x'),
      'RouteTable detour-private: spec.routes.0.path',
    ],
    ['duplicate keys', 'kind: Pod\nkind: Secret\n', 'cluster.yaml:2'],
  ] as const) {
    it(`refuses ${what}`, () => {
      expect(failure(text).message).to.contain(message);
    });
  }
});
