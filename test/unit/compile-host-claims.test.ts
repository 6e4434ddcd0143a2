import { expect } from 'chai';
import type { V1Namespace } from '@kubernetes/client-node';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig, type Plane } from '../../shared/plane-config.js';
import type { HostGrantSpec } from '../../shared/host-grant.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import { routablePod } from '../support/routable-pod.js';

/** Who may claim a host (DESIGN.md "Who may claim a host"), through the compiler. */
const scoped = loadPlaneConfig('private', {});

function grant(name: string, spec: HostGrantSpec | Record<string, unknown>): unknown {
  return { apiVersion: 'detour.dev/v1alpha1', kind: 'HostGrant', metadata: { name }, spec };
}

function namespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  // Plain JSON, as on the wire; client-node's classes are types only.
  const object: unknown = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
  return object as V1Namespace;
}

interface Case {
  hosts: string;
  namespace?: string;
  hostGrants?: unknown[];
  namespaces?: V1Namespace[];
  plane?: Plane;
  env?: Record<string, string>;
}

/** Compiles one pod claiming `hosts`; returns the hosts routed and the hosts refused. */
function claim(c: Case): { routed: string[]; refused: string[]; tables: RouteTableResource[] } {
  const ns = c.namespace ?? 'shop';
  const plane = c.plane ?? 'private';
  const config = loadPlaneConfig(plane, c.env ?? {});
  const pod = routablePod({
    namespace: ns,
    annotations: { [config.hostsAnnotation]: c.hosts, [config.pathsAnnotation]: '3000:/' },
  });
  const tables = compile(
    {
      pods: [pod],
      secrets: [],
      hostGrants: c.hostGrants ?? [],
      namespaces: c.namespaces ?? [namespace(ns)],
    },
    config,
  );
  return {
    routed: tables.flatMap((t) => t.spec.routes.map((r) => r.host)),
    refused: tables.flatMap((t) => (t.status?.skipped ?? []).map((s) => s.value)),
    tables,
  };
}

describe('compile: who may claim a host', () => {
  describe('by default, a namespace claims only its own names', () => {
    for (const host of ['web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local', 'a.b.shop']) {
      it(`lets shop claim ${host}`, () => {
        expect(claim({ hosts: host }).routed).to.deep.equal([host]);
      });
    }
    for (const host of [
      'shop', // the bare namespace name is no host of it
      'shop.svc',
      'web.shop.svc.other.domain',
      'web.shopping',
      'web.myshop',
      'api.github.com',
      'kubernetes.default.svc',
      'web.other',
      '10.0.0.1',
    ]) {
      it(`refuses ${host} to shop`, () => {
        const { routed, refused } = claim({ hosts: host });
        expect(routed).to.deep.equal([]);
        expect(refused).to.deep.equal([host]);
      });
    }

    it('never counts an IPv4 address as a namespace name (10.0.0.123 in namespace 123)', () => {
      expect(claim({ namespace: '123', hosts: '10.0.0.123' }).routed).to.deep.equal([]);
    });

    it('follows DETOUR_CLUSTER_DOMAIN', () => {
      const env = { DETOUR_CLUSTER_DOMAIN: 'corp.example' };
      expect(claim({ hosts: 'web.shop.svc.corp.example', env }).routed).to.have.length(1);
      expect(claim({ hosts: 'web.shop.svc.cluster.local', env }).routed).to.have.length(0);
    });

    it('reports a refused claim as a skipped entry with the reason, and keeps the rest', () => {
      const { routed, tables } = claim({ hosts: 'web.shop api.github.com' });
      expect(routed).to.deep.equal(['web.shop']);
      expect(tables[0]?.status?.skipped).to.deep.equal([
        {
          namespace: 'shop',
          pod: 'my-application-1',
          annotation: 'privateHosts',
          value: 'api.github.com',
          reason:
            'host not claimable by namespace shop: not under *.shop, *.shop.svc, ' +
            '*.shop.svc.cluster.local and no HostGrant gives it to shop in the private plane',
        },
      ]);
    });

    it('writes a table holding only refusals, so the namespace sees why it has no routes', () => {
      const { tables } = claim({ hosts: 'api.github.com' });
      expect(tables).to.have.length(1);
      expect(tables[0]?.spec.routes).to.deep.equal([]);
      expect(tables[0]?.status?.skipped).to.have.length(1);
    });
  });

  describe('HostGrant', () => {
    it('grants exact hosts to namespaces by name', () => {
      const hostGrants = [grant('g', { namespaces: ['shop'], hosts: ['api.example.com'] })];
      expect(claim({ hosts: 'api.example.com', hostGrants }).routed).to.have.length(1);
      expect(claim({ hosts: 'x.api.example.com', hostGrants }).routed).to.have.length(0);
      expect(
        claim({ namespace: 'blog', hosts: 'api.example.com', hostGrants }).routed,
      ).to.have.length(0);
    });

    it('grants by namespaceSelector: matchLabels and matchExpressions', () => {
      const hostGrants = [
        grant('teams', {
          namespaceSelector: {
            matchLabels: { team: 'web' },
            matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['dev'] }],
          },
          hosts: ['api.example.com'],
        }),
      ];
      const of = (labels: Record<string, string>): number =>
        claim({ hosts: 'api.example.com', hostGrants, namespaces: [namespace('shop', labels)] })
          .routed.length;
      expect(of({ team: 'web' })).to.equal(1);
      expect(of({ team: 'web', tier: 'prod' })).to.equal(1);
      expect(of({ team: 'web', tier: 'dev' })).to.equal(0);
      expect(of({ team: 'ops' })).to.equal(0);
      expect(of({})).to.equal(0);
    });

    it('matches the name label the API server puts on every namespace, even one not seen yet', () => {
      const hostGrants = [
        grant('by-name-label', {
          namespaceSelector: {
            matchExpressions: [
              { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['shop'] },
            ],
          },
          hosts: ['api.example.com'],
        }),
      ];
      expect(claim({ hosts: 'api.example.com', hostGrants, namespaces: [] }).routed).to.have.length(
        1,
      );
    });

    it('*.suffix matches one or more labels before the suffix, never the suffix itself', () => {
      const hostGrants = [grant('g', { namespaces: ['shop'], hosts: ['*.example.com'] })];
      const routed = (host: string): number => claim({ hosts: host, hostGrants }).routed.length;
      expect(routed('a.example.com')).to.equal(1);
      expect(routed('a.b.example.com')).to.equal(1);
      expect(routed('example.com')).to.equal(0);
      expect(routed('badexample.com')).to.equal(0);
    });

    it('grants IPv4 hosts by exact address', () => {
      const hostGrants = [grant('g', { namespaces: ['shop'], hosts: ['10.0.0.1'] })];
      expect(claim({ hosts: '10.0.0.1 10.0.0.2', hostGrants }).routed).to.deep.equal(['10.0.0.1']);
    });

    it('grants in both planes by default, and only in the listed planes otherwise', () => {
      const both = [grant('g', { namespaces: ['shop'], hosts: ['api.example.com'] })];
      const pub = [
        grant('g', { namespaces: ['shop'], hosts: ['api.example.com'], planes: ['public'] }),
      ];
      for (const plane of ['private', 'public'] as const) {
        expect(claim({ hosts: 'api.example.com', hostGrants: both, plane }).routed).to.have.length(
          1,
        );
      }
      expect(
        claim({ hosts: 'api.example.com', hostGrants: pub, plane: 'public' }).routed,
      ).to.have.length(1);
      expect(
        claim({ hosts: 'api.example.com', hostGrants: pub, plane: 'private' }).routed,
      ).to.have.length(0);
    });

    it('ignores an invalid grant (it grants nothing rather than too much)', () => {
      for (const spec of [
        { hosts: ['api.example.com'] }, // neither namespaces nor namespaceSelector
        { namespaces: ['shop'], hosts: ['api.example.com:80'] },
        { namespaces: ['shop'], hosts: ['*'] },
        { namespaces: ['shop'], hosts: [] },
      ]) {
        const hostGrants = [grant('bad', spec)];
        expect(
          claim({ hosts: 'api.example.com', hostGrants }).routed,
          JSON.stringify(spec),
        ).to.have.length(0);
      }
    });

    it('keeps the oldest-claim rule among namespaces that may both claim a host', () => {
      const hostGrants = [
        grant('shared', { namespaces: ['blue', 'green'], hosts: ['shared.example'] }),
      ];
      const pod = (ns: string, created: string, ip: string): ReturnType<typeof routablePod> =>
        routablePod({ namespace: ns, created, ip, hosts: 'shared.example', paths: '3000:/' });
      const tables = compile(
        {
          pods: [
            pod('green', '2024-01-01T00:00:00Z', '127.0.0.2'),
            pod('blue', '2023-01-01T00:00:00Z', '127.0.0.1'),
            pod('red', '2022-01-01T00:00:00Z', '127.0.0.3'), // oldest, but not granted
          ],
          secrets: [],
          hostGrants,
        },
        scoped,
      );
      const byNs = Object.fromEntries(tables.map((t) => [t.metadata.namespace, t]));
      expect(byNs.blue?.spec.routes.map((r) => r.host)).to.deep.equal(['shared.example']);
      expect(byNs.green?.spec.routes).to.deep.equal([]);
      expect(byNs.green?.status?.conflicts).to.deep.equal([
        { host: 'shared.example', path: '/', winner: 'blue', loser: 'green' },
      ]);
      expect(byNs.red?.spec.routes).to.deep.equal([]);
      expect(byNs.red?.status?.skipped.map((s) => s.value)).to.deep.equal(['shared.example']);
      expect(byNs.red?.status?.conflicts).to.deep.equal([]);
    });
  });

  describe('DETOUR_HOST_POLICY=open (the seed rule)', () => {
    it('lets any namespace claim any host, the oldest claim winning', () => {
      const env = { DETOUR_HOST_POLICY: 'open' };
      expect(claim({ hosts: 'api.github.com kubernetes.default.svc', env }).routed).to.deep.equal([
        'api.github.com',
        'kubernetes.default.svc',
      ]);
    });
  });

  it('is deterministic whatever the order of grants and namespaces', () => {
    const hostGrants = [
      grant('a', { namespaces: ['shop'], hosts: ['a.example'] }),
      grant('b', { namespaceSelector: { matchLabels: { t: 'x' } }, hosts: ['*.b.example'] }),
    ];
    const namespaces = [namespace('shop', { t: 'x' }), namespace('blog')];
    const pods = [
      routablePod({ namespace: 'shop', hosts: 'a.example x.b.example c.example', paths: '3000:/' }),
    ];
    const reference = compile({ pods, secrets: [], hostGrants, namespaces }, scoped);
    const reversed = compile(
      {
        pods,
        secrets: [],
        hostGrants: [...hostGrants].reverse(),
        namespaces: [...namespaces].reverse(),
      },
      scoped,
    );
    expect(reversed).to.deep.equal(reference);
    expect(reference[0]?.spec.routes.map((r) => r.host)).to.deep.equal([
      'a.example',
      'x.b.example',
    ]);
  });
});
