import { expect } from 'chai';
import { createHash, scryptSync } from 'node:crypto';
import { compile, rfc3339 } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { REASONS } from '../../shared/routing-annotations.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import { apiKeySecret, routablePod } from '../support/routable-pod.js';

/**
 * The seed's routing rules, under the seed's host rule (DETOUR_HOST_POLICY=open): these
 * cases claim hosts like `a.ns` from any namespace. Host ownership has its own file,
 * compile-host-claims.test.ts.
 */
const config = loadPlaneConfig('private', { DETOUR_HOST_POLICY: 'open' });

/** `host+path -> ["ip:port", ...]` of one namespace's table. */
function routesOf(tables: RouteTableResource[], namespace: string): Record<string, string[]> {
  const t = tables.find((x) => x.metadata.namespace === namespace);
  if (t === undefined) return {};
  return Object.fromEntries(
    t.spec.routes.map((r) => [`${r.host}${r.path}`, r.endpoints.map((e) => `${e.ip}:${e.port}`)]),
  );
}

function skippedOf(tables: RouteTableResource[]): { value: string; reason: string }[] {
  return tables
    .flatMap((t) => t.status?.skipped ?? [])
    .map((s) => ({ value: s.value, reason: s.reason }));
}

describe('compile', () => {
  it('turns the seed example into one table per namespace', () => {
    const tables = compile(
      {
        pods: [
          routablePod({
            name: 'a1',
            ip: '127.0.0.11',
            hosts: 'my-application.my-namespace',
            paths: '3000:/nodejs',
          }),
          routablePod({
            name: 'a2',
            ip: '127.0.0.12',
            hosts: 'my-application.my-namespace',
            paths: '3000:/nodejs',
          }),
        ],
        secrets: [],
      },
      config,
    );
    expect(tables).to.have.length(1);
    const [t] = tables;
    expect(t?.metadata).to.deep.equal({
      name: 'detour-private',
      namespace: 'my-namespace',
      labels: { 'detour.dev/plane': 'private' },
    });
    expect(t?.spec).to.deep.equal({
      plane: 'private',
      routes: [
        {
          host: 'my-application.my-namespace',
          path: '/nodejs',
          claimedAt: '2024-01-01T00:00:00Z',
          endpoints: [
            { ip: '127.0.0.11', port: 3000, pod: 'a1' },
            { ip: '127.0.0.12', port: 3000, pod: 'a2' },
          ],
          enforcedAt: 'caller',
        },
      ],
    });
    expect(t?.status).to.deep.equal({
      skipped: [],
      conflicts: [],
      hosts: ['my-application.my-namespace'],
      routeCount: 1,
      conflictCount: 0,
    });
  });

  it('expands every host x every path', () => {
    const tables = compile(
      {
        pods: [
          routablePod({ hosts: 'a.ns  B.NS\tc.ns', paths: '3000:/x 4000:/y', ports: [3000, 4000] }),
        ],
        secrets: [],
      },
      config,
    );
    expect(routesOf(tables, 'my-namespace')).to.deep.equal({
      'a.ns/x': ['127.0.0.11:3000'],
      'a.ns/y': ['127.0.0.11:4000'],
      'b.ns/x': ['127.0.0.11:3000'],
      'b.ns/y': ['127.0.0.11:4000'],
      'c.ns/x': ['127.0.0.11:3000'],
      'c.ns/y': ['127.0.0.11:4000'],
    });
  });

  it('uses the public plane annotations for the public plane', () => {
    const pub = loadPlaneConfig('public', { DETOUR_HOST_POLICY: 'open' });
    const pod = routablePod({
      hosts: 'private.ns',
      paths: '3000:/p',
      annotations: { publicHosts: 'public.example.com', publicPaths: '3000:/q' },
    });
    const tables = compile({ pods: [pod], secrets: [] }, pub);
    expect(routesOf(tables, 'my-namespace')).to.deep.equal({
      'public.example.com/q': ['127.0.0.11:3000'],
    });
    expect(tables[0]?.metadata.name).to.equal('detour-public');
    expect(tables[0]?.metadata.labels).to.deep.equal({ 'detour.dev/plane': 'public' });
  });

  describe('pod selection', () => {
    const cases: [string, Parameters<typeof routablePod>[0]][] = [
      ['without the routable label', { labels: { app: 'x' } }],
      ['with routable=false', { labels: { routable: 'false' } }],
      ['Pending', { phase: 'Pending' }],
      ['Succeeded', { phase: 'Succeeded' }],
      ['not Ready', { ready: false }],
      ['without an IP', { ip: '' }],
      ['terminating', { deleting: true }],
    ];
    for (const [what, options] of cases) {
      it(`ignores a pod ${what}`, () => {
        const pod = routablePod({ hosts: 'a.ns', paths: '3000:/', ...options });
        expect(compile({ pods: [pod], secrets: [] }, config)).to.deep.equal([]);
      });
    }

    it('honours a custom ROUTABLE_LABEL_SELECTOR with several terms', () => {
      const custom = loadPlaneConfig('private', {
        ROUTABLE_LABEL_SELECTOR: 'team=a,routable=yes',
        DETOUR_HOST_POLICY: 'open',
      });
      const yes = routablePod({
        name: 'y',
        hosts: 'a.ns',
        paths: '3000:/',
        labels: { team: 'a', routable: 'yes' },
      });
      const no = routablePod({
        name: 'n',
        ip: '127.0.0.12',
        hosts: 'a.ns',
        paths: '3000:/',
        labels: { routable: 'yes' },
      });
      expect(
        routesOf(compile({ pods: [yes, no], secrets: [] }, custom), 'my-namespace'),
      ).to.deep.equal({
        'a.ns/': ['127.0.0.11:3000'],
      });
    });

    it('ignores a routable pod with neither annotation, silently', () => {
      expect(compile({ pods: [routablePod()], secrets: [] }, config)).to.deep.equal([]);
    });
  });

  describe('skipped entries (the rest of the pod still routes)', () => {
    const hostCases: [string, string][] = [
      ['a.ns:80', REASONS.hostWithPort],
      ['*.ns', REASONS.hostWildcard],
      ['[::1]', REASONS.hostIPv6],
      ['fd00::1', REASONS.hostIPv6],
      ['256.1.1.1', REASONS.hostBadIPv4],
      ['1.2.3', REASONS.hostBadIPv4],
      ['01.2.3.4', REASONS.hostBadIPv4],
      ['under_score.ns', REASONS.hostBadName],
      ['-dash.ns', REASONS.hostBadName],
      ['a..ns', REASONS.hostBadName],
      [`${'x'.repeat(64)}.ns`, REASONS.hostBadName],
      [`${'abcdefghi.'.repeat(26)}ns`, REASONS.hostBadName],
    ];
    for (const [value, reason] of hostCases) {
      it(`skips host ${JSON.stringify(value.slice(0, 30))}: ${reason}`, () => {
        const tables = compile(
          { pods: [routablePod({ hosts: `good.ns ${value}`, paths: '3000:/p' })], secrets: [] },
          config,
        );
        expect(routesOf(tables, 'my-namespace')).to.deep.equal({
          'good.ns/p': ['127.0.0.11:3000'],
        });
        expect(tables[0]?.status?.skipped).to.deep.equal([
          {
            namespace: 'my-namespace',
            pod: 'my-application-1',
            annotation: 'privateHosts',
            value,
            reason,
          },
        ]);
      });
    }

    const pathCases: [string, string][] = [
      ['/nodejs', REASONS.pathNoPort],
      ['http:/nodejs', REASONS.pathBadPort],
      ['0:/nodejs', REASONS.pathBadPort],
      ['70000:/nodejs', REASONS.pathBadPort],
      ['4000:/nodejs', REASONS.pathUndeclaredPort],
      ['3000:nodejs', REASONS.pathNoSlash],
      ['3000:', REASONS.pathNoSlash],
      ['3000:/a?b', REASONS.pathQuery],
      ['3000:/a#b', REASONS.pathQuery],
      ['3000:/a/../b', REASONS.pathDotSegment],
      ['3000:/./b', REASONS.pathDotSegment],
      ['3000:/a"b', REASONS.pathBadChar],
      ['3000:/a%zz', REASONS.pathBadEscape],
      [`3000:/${'x'.repeat(2048)}`, REASONS.pathTooLong],
    ];
    for (const [value, reason] of pathCases) {
      it(`skips path ${JSON.stringify(value.slice(0, 30))}: ${reason}`, () => {
        const tables = compile(
          { pods: [routablePod({ hosts: 'good.ns', paths: `3000:/p ${value}` })], secrets: [] },
          config,
        );
        expect(routesOf(tables, 'my-namespace')).to.deep.equal({
          'good.ns/p': ['127.0.0.11:3000'],
        });
        expect(skippedOf(tables)).to.deep.equal([{ value, reason }]);
        expect(tables[0]?.status?.skipped[0]?.annotation).to.equal('privatePaths');
      });
    }

    it('records hosts without paths, and paths without hosts', () => {
      const tables = compile(
        {
          pods: [
            routablePod({ name: 'h', hosts: 'a.ns' }),
            routablePod({ name: 'p', ip: '127.0.0.12', paths: '3000:/x' }),
            routablePod({ name: 'e', ip: '127.0.0.13', hosts: ' ', paths: '3000:/x' }),
          ],
          secrets: [],
        },
        config,
      );
      expect(tables).to.have.length(1);
      expect(tables[0]?.spec.routes).to.deep.equal([]);
      expect(tables[0]?.status?.skipped).to.deep.equal([
        {
          namespace: 'my-namespace',
          pod: 'e',
          annotation: 'privateHosts',
          value: '',
          reason: REASONS.missingHosts,
        },
        {
          namespace: 'my-namespace',
          pod: 'h',
          annotation: 'privatePaths',
          value: '',
          reason: REASONS.missingPaths,
        },
        {
          namespace: 'my-namespace',
          pod: 'p',
          annotation: 'privateHosts',
          value: '',
          reason: REASONS.missingHosts,
        },
      ]);
    });

    it('keeps a pod whose every entry is bad out of the routes, with each entry reported', () => {
      const tables = compile(
        { pods: [routablePod({ hosts: 'a:1 b:2', paths: '9:/x' })], secrets: [] },
        config,
      );
      expect(tables[0]?.spec.routes).to.deep.equal([]);
      expect(skippedOf(tables).map((s) => s.value)).to.deep.equal(['a:1', 'b:2', '9:/x']);
    });
  });

  describe('hosts and paths as written', () => {
    it('lower-cases hosts, drops a trailing dot and de-duplicates', () => {
      const tables = compile(
        {
          pods: [routablePod({ hosts: 'A.NS a.ns. a.ns', paths: '3000:/x 3000:/x/' })],
          secrets: [],
        },
        config,
      );
      expect(routesOf(tables, 'my-namespace')).to.deep.equal({ 'a.ns/x': ['127.0.0.11:3000'] });
      expect(skippedOf(tables)).to.deep.equal([]);
    });

    it('accepts IPv4 hosts and the root path', () => {
      const tables = compile(
        { pods: [routablePod({ hosts: '10.96.0.10 0.0.0.0', paths: '3000:/' })], secrets: [] },
        config,
      );
      expect(Object.keys(routesOf(tables, 'my-namespace'))).to.deep.equal([
        '0.0.0.0/',
        '10.96.0.10/',
      ]);
    });

    it('normalises paths: duplicate slashes, trailing slash, escapes of unreserved characters', () => {
      const tables = compile(
        {
          pods: [routablePod({ hosts: 'a.ns', paths: '3000://x//y/ 3000:/%7Euser 3000:/a%2fb' })],
          secrets: [],
        },
        config,
      );
      expect(Object.keys(routesOf(tables, 'my-namespace'))).to.deep.equal([
        'a.ns/a%2Fb',
        'a.ns/x/y',
        'a.ns/~user',
      ]);
    });

    it('takes ports of native sidecars but not of ordinary init containers', () => {
      const pod = routablePod({
        hosts: 'a.ns',
        paths: '3000:/a 4000:/b 5000:/c',
        sidecarPorts: [4000],
        initPorts: [5000],
      });
      const tables = compile({ pods: [pod], secrets: [] }, config);
      expect(Object.keys(routesOf(tables, 'my-namespace'))).to.deep.equal(['a.ns/a', 'a.ns/b']);
      expect(skippedOf(tables)).to.deep.equal([
        { value: '5000:/c', reason: REASONS.pathUndeclaredPort },
      ]);
    });

    it('routes one path on two ports of one pod to both', () => {
      const tables = compile(
        {
          pods: [routablePod({ hosts: 'a.ns', paths: '3000:/x 4000:/x', ports: [3000, 4000] })],
          secrets: [],
        },
        config,
      );
      expect(routesOf(tables, 'my-namespace')).to.deep.equal({
        'a.ns/x': ['127.0.0.11:3000', '127.0.0.11:4000'],
      });
    });
  });

  describe('pools and conflicts', () => {
    it('pools pods of one namespace, endpoints sorted by pod, the oldest pod dating the claim', () => {
      const tables = compile(
        {
          pods: [
            routablePod({
              name: 'z',
              ip: '127.0.0.13',
              hosts: 'a.ns',
              paths: '3000:/',
              created: '2024-03-01T00:00:00Z',
            }),
            routablePod({
              name: 'b',
              ip: '127.0.0.12',
              hosts: 'a.ns',
              paths: '3000:/',
              created: '2024-02-01T00:00:00Z',
            }),
          ],
          secrets: [],
        },
        config,
      );
      const route = tables[0]?.spec.routes[0];
      expect(route?.endpoints.map((e) => e.pod)).to.deep.equal(['b', 'z']);
      expect(route?.claimedAt).to.equal('2024-02-01T00:00:00Z');
    });

    it('keys pods by namespace/name: same name in two namespaces are two pods', () => {
      const tables = compile(
        {
          pods: [
            routablePod({
              name: 'app',
              namespace: 'ns-a',
              ip: '127.0.0.11',
              hosts: 'a.ns-a',
              paths: '3000:/',
            }),
            routablePod({
              name: 'app',
              namespace: 'ns-b',
              ip: '127.0.0.12',
              hosts: 'b.ns-b',
              paths: '3000:/',
            }),
          ],
          secrets: [],
        },
        config,
      );
      expect(routesOf(tables, 'ns-a')).to.deep.equal({ 'a.ns-a/': ['127.0.0.11:3000'] });
      expect(routesOf(tables, 'ns-b')).to.deep.equal({ 'b.ns-b/': ['127.0.0.12:3000'] });
    });

    it('applies a change of pod IP or port alone', () => {
      const before = routablePod({ hosts: 'a.ns', paths: '3000:/', ports: [3000, 3001] });
      const moved = routablePod({
        hosts: 'a.ns',
        paths: '3000:/',
        ports: [3000, 3001],
        ip: '127.0.0.99',
      });
      const reported = routablePod({ hosts: 'a.ns', paths: '3001:/', ports: [3000, 3001] });
      expect(
        routesOf(compile({ pods: [before], secrets: [] }, config), 'my-namespace'),
      ).to.deep.equal({ 'a.ns/': ['127.0.0.11:3000'] });
      expect(
        routesOf(compile({ pods: [moved], secrets: [] }, config), 'my-namespace'),
      ).to.deep.equal({ 'a.ns/': ['127.0.0.99:3000'] });
      expect(
        routesOf(compile({ pods: [reported], secrets: [] }, config), 'my-namespace'),
      ).to.deep.equal({ 'a.ns/': ['127.0.0.11:3001'] });
    });

    it('lets the later of two copies of one pod win (a later watch event)', () => {
      const first = routablePod({ ip: '127.0.0.11', hosts: 'a.ns', paths: '3000:/' });
      const second = routablePod({ ip: '127.0.0.12', hosts: 'a.ns', paths: '3000:/' });
      expect(
        routesOf(compile({ pods: [first, second], secrets: [] }, config), 'my-namespace'),
      ).to.deep.equal({
        'a.ns/': ['127.0.0.12:3000'],
      });
    });

    it('gives a host+path claimed by two namespaces to the oldest claim and reports it in both', () => {
      const tables = compile(
        {
          pods: [
            routablePod({
              name: 'n',
              namespace: 'newer',
              ip: '127.0.0.12',
              hosts: 'a.shared b.newer',
              paths: '3000:/',
              created: '2024-05-01T00:00:00Z',
            }),
            routablePod({
              name: 'o',
              namespace: 'older',
              ip: '127.0.0.11',
              hosts: 'a.shared',
              paths: '3000:/',
              created: new Date('2024-04-01T00:00:00Z'),
            }),
          ],
          secrets: [],
        },
        config,
      );
      expect(routesOf(tables, 'older')).to.deep.equal({ 'a.shared/': ['127.0.0.11:3000'] });
      expect(routesOf(tables, 'newer')).to.deep.equal({ 'b.newer/': ['127.0.0.12:3000'] });
      const conflict = { host: 'a.shared', path: '/', winner: 'older', loser: 'newer' };
      for (const t of tables) expect(t.status?.conflicts).to.deep.equal([conflict]);
    });

    it('breaks a tie of claim times by namespace name', () => {
      const tables = compile(
        {
          pods: [
            routablePod({ namespace: 'zeta', hosts: 'h', paths: '3000:/' }),
            routablePod({ namespace: 'alpha', hosts: 'h', paths: '3000:/' }),
            routablePod({ namespace: 'mid', hosts: 'h', paths: '3000:/' }),
          ],
          secrets: [],
        },
        config,
      );
      expect(tables.map((t) => [t.metadata.namespace, t.spec.routes.length])).to.deep.equal([
        ['alpha', 1],
        ['mid', 0],
        ['zeta', 0],
      ]);
      expect(tables[0]?.status?.conflicts.map((c) => c.loser)).to.deep.equal(['mid', 'zeta']);
      expect(tables[2]?.status?.conflicts).to.deep.equal([
        { host: 'h', path: '/', winner: 'alpha', loser: 'zeta' },
      ]);
    });

    it('does not count different paths of one host as a conflict', () => {
      const tables = compile(
        {
          pods: [
            routablePod({ namespace: 'a', hosts: 'h', paths: '3000:/a' }),
            routablePod({ namespace: 'b', hosts: 'h', paths: '3000:/b' }),
          ],
          secrets: [],
        },
        config,
      );
      expect(tables.flatMap((t) => t.status?.conflicts ?? [])).to.deep.equal([]);
      expect(tables.map((t) => t.spec.routes.length)).to.deep.equal([1, 1]);
    });
  });

  describe('API key', () => {
    const pods = [routablePod({ hosts: 'a.ns', paths: '3000:/' })];

    it('carries scrypt hashes of the base64 string and of the plain value from .data', () => {
      const secret = apiKeySecret('my-namespace', { 'private-api-key': 'my-key' });
      const [t] = compile({ pods, secrets: [secret] }, config);
      const hashes = t?.spec.apiKeyHashes ?? [];
      expect(hashes).to.have.length(2);
      const values = [Buffer.from('my-key').toString('base64'), 'my-key'];
      hashes.forEach((h, i) => {
        expect(h).to.include({ algorithm: 'scrypt', n: 16384, r: 8, p: 1 });
        const derived = scryptSync(values[i] ?? '', Buffer.from(h.salt, 'base64'), 32, {
          N: h.n,
          r: h.r,
          p: h.p,
        });
        expect(derived.toString('base64')).to.equal(h.hash);
      });
      // One salt per Secret, so one derivation verifies either form.
      expect(hashes[0]?.salt).to.equal(hashes[1]?.salt);
      // A proxy of detour 0.1 reads this field: it must refuse every key, not none.
      expect(t?.spec.apiKeySha256).to.deep.equal(['0'.repeat(64)]);
    });

    it('reads stringData as the plain value', () => {
      const fromData = compile(
        { pods, secrets: [apiKeySecret('my-namespace', { 'private-api-key': 'k' })] },
        config,
      );
      const fromString = compile(
        { pods, secrets: [apiKeySecret('my-namespace', { 'private-api-key': 'k' }, 'stringData')] },
        config,
      );
      expect(fromString[0]?.spec.apiKeyHashes).to.deep.equal(fromData[0]?.spec.apiKeyHashes);
    });

    it('salts per Secret: the same key in two namespaces or a re-created Secret hashes apart', () => {
      const inNamespace = (namespace: string, uid: string): string | undefined => {
        const secret = apiKeySecret(namespace, { 'private-api-key': 'same' });
        if (secret.metadata !== undefined) secret.metadata.uid = uid;
        const podIn = routablePod({ namespace, hosts: `a.${namespace}`, paths: '3000:/' });
        return compile({ pods: [podIn], secrets: [secret] }, config)[0]?.spec.apiKeyHashes?.[0]
          ?.hash;
      };
      const first = inNamespace('n1', 'u1');
      expect(inNamespace('n1', 'u1')).to.equal(first);
      expect(inNamespace('n2', 'u1')).to.not.equal(first);
      expect(inNamespace('n1', 'u2')).to.not.equal(first);
    });

    it('requires nothing without the Secret, without the field, or with it in another namespace', () => {
      for (const secrets of [
        [],
        [apiKeySecret('my-namespace', { 'public-api-key': 'k' })],
        [apiKeySecret('other', { 'private-api-key': 'k' })],
        [apiKeySecret('my-namespace', { 'private-api-key': 'k' }, 'data', 'not-routing')],
      ]) {
        const [t] = compile({ pods, secrets }, config);
        expect(t?.spec).not.to.have.property('apiKeyHashes');
        expect(t?.spec).not.to.have.property('apiKeySha256');
      }
    });

    it('follows API_KEY_SECRET_LOCATION', () => {
      const custom = loadPlaneConfig('private', {
        API_KEY_SECRET_LOCATION: 'keys:token',
        DETOUR_HOST_POLICY: 'open',
      });
      const [t] = compile(
        { pods, secrets: [apiKeySecret('my-namespace', { token: 't' }, 'data', 'keys')] },
        custom,
      );
      expect(t?.spec.apiKeyHashes).to.have.length(2);
    });

    it('never puts the key, its base64 or a SHA-256 digest of either in the table', () => {
      const tables = compile(
        { pods, secrets: [apiKeySecret('my-namespace', { 'private-api-key': 'plain-secret' })] },
        config,
      );
      const text = JSON.stringify(tables);
      const base64 = Buffer.from('plain-secret').toString('base64');
      for (const value of ['plain-secret', base64]) {
        expect(text).not.to.contain(value);
        for (const encoding of ['hex', 'base64', 'base64url'] as const) {
          const digest = createHash('sha256').update(value).digest(encoding);
          expect(text).not.to.contain(digest);
          expect(text.toLowerCase()).not.to.contain(digest.toLowerCase());
        }
      }
    });
  });

  it('is deterministic: the same objects in any order give deep-equal tables', () => {
    const pods = [
      routablePod({
        name: 'a',
        namespace: 'n1',
        ip: '127.0.0.1',
        hosts: 'x y:1',
        paths: '3000:/a',
      }),
      routablePod({
        name: 'b',
        namespace: 'n2',
        ip: '127.0.0.2',
        hosts: 'x',
        paths: '3000:/a',
        created: '2023-01-01T00:00:00Z',
      }),
      routablePod({
        name: 'c',
        namespace: 'n1',
        ip: '127.0.0.3',
        hosts: 'z x',
        paths: '3000:/b 3000:/a',
      }),
      routablePod({ name: 'd', namespace: 'n3', ip: '127.0.0.4', hosts: 'w', paths: 'bad' }),
    ];
    const secrets = [
      apiKeySecret('n1', { 'private-api-key': 'k' }),
      apiKeySecret('n2', { 'private-api-key': 'j' }),
    ];
    const reference = compile({ pods, secrets }, config);
    for (let i = 0; i < 20; i++) {
      const shuffledPods = [...pods].sort(() => Math.random() - 0.5);
      const shuffledSecrets = [...secrets].reverse();
      expect(compile({ pods: shuffledPods, secrets: shuffledSecrets }, config)).to.deep.equal(
        reference,
      );
    }
    expect(reference.map((t) => t.metadata.namespace)).to.deep.equal(['n1', 'n2', 'n3']);
  });

  it('accepts Date and string timestamps alike', () => {
    expect(rfc3339(new Date('2024-01-01T00:00:00Z'))).to.equal('2024-01-01T00:00:00Z');
    expect(rfc3339('2024-01-01T01:00:00+01:00')).to.equal('2024-01-01T00:00:00Z');
    expect(rfc3339('2024-01-01T00:00:00.250Z')).to.equal('2024-01-01T00:00:00.250Z');
    expect(rfc3339(undefined)).to.equal('1970-01-01T00:00:00Z');
    expect(rfc3339('not a time')).to.equal('1970-01-01T00:00:00Z');
  });
});

describe('compile: a namespace with a key and no route', () => {
  it('still gets a table, so its pods check inbound calls against the key', () => {
    const tables = compile(
      { pods: [], secrets: [apiKeySecret('lonely', { 'private-api-key': 'k' }, 'stringData')] },
      loadPlaneConfig('private', {}),
    );
    expect(tables.map((t) => t.metadata.namespace)).to.deep.equal(['lonely']);
    expect(tables[0]?.spec.routes).to.deep.equal([]);
    expect(tables[0]?.spec.apiKeyHashes).to.have.length.greaterThan(0);
  });

  it('gets none without a key either', () => {
    expect(compile({ pods: [], secrets: [] }, loadPlaneConfig('private', {}))).to.deep.equal([]);
  });
});
