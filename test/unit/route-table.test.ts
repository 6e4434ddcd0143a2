import { expect } from 'chai';
import { RouteTable, hostKey, endpointKey } from '../../sidecar/route-table.js';
import type { ApiKeyHash, RouteTableResource } from '../../shared/route-table-resource.js';
import { keyHashes } from '../support/api-key.js';
import { privateTable, type TestRoute } from '../support/route-tables.js';

function table(
  namespace: string,
  routes: TestRoute[],
  extra: {
    apiKeyHashes?: ApiKeyHash[];
    apiKeySha256?: string[];
    status?: RouteTableResource['status'];
  } = {},
): RouteTableResource {
  const { status, ...keys } = extra;
  return privateTable(
    namespace,
    routes.map((r) => ({
      endpoints: [{ ip: '127.0.0.11', port: 3000, pod: `${namespace}-pod` }],
      ...r,
    })),
    keys,
    status,
  );
}

function matchedPath(t: RouteTable, host: string, path: string): string {
  const m = t.match(host, path);
  if (m.kind !== 'route') return m.kind;
  return m.route.path;
}

describe('route table', () => {
  const sparse = RouteTable.fromResources([
    table('my-namespace', [
      { host: 'my-application.my-namespace', path: '/nodejs' },
      { host: 'my-application.my-namespace', path: '/nodejs/api' },
      { host: 'my-application.my-namespace', path: '/static' },
      { host: 'root.my-namespace', path: '/' },
      { host: 'root.my-namespace', path: '/special' },
      { host: '127.0.0.11', path: '/ip' },
    ]),
  ]);

  const t = sparse;

  describe('host match (nginx server_name)', () => {
    it('ignores case', () => {
      expect(matchedPath(t, 'My-Application.MY-NAMESPACE', '/nodejs')).to.equal('/nodejs');
    });

    it('ignores the port', () => {
      expect(matchedPath(t, 'my-application.my-namespace:8080', '/nodejs')).to.equal('/nodejs');
    });

    it('ignores the trailing dot of a fully-qualified name', () => {
      expect(matchedPath(t, 'my-application.my-namespace.', '/nodejs')).to.equal('/nodejs');
    });

    it('matches an IPv4 host, with or without port', () => {
      expect(matchedPath(t, '127.0.0.11', '/ip/x')).to.equal('/ip');
      expect(matchedPath(t, '127.0.0.11:80', '/ip')).to.equal('/ip');
    });

    it('reports an unknown host', () => {
      expect(t.match('other.my-namespace', '/nodejs')).to.deep.equal({ kind: 'unknown-host' });
      expect(t.match('', '/nodejs')).to.deep.equal({ kind: 'unknown-host' });
    });

    it('answers hasHost and hosts() the same way', () => {
      expect(t.hasHost('ROOT.my-namespace:1')).to.equal(true);
      expect(t.hasHost('nope')).to.equal(false);
      expect(t.hosts()).to.deep.equal([
        '127.0.0.11',
        'my-application.my-namespace',
        'root.my-namespace',
      ]);
    });
  });

  // A host with few routes is scanned, one with many is probed by segment: same answers.
  const filler = Array.from({ length: 20 }, (_, i) => ({
    host: 'my-application.my-namespace',
    path: `/filler/${i}`,
  }));
  const crowded = RouteTable.fromResources([
    table('my-namespace', [
      ...filler,
      { host: 'my-application.my-namespace', path: '/nodejs' },
      { host: 'my-application.my-namespace', path: '/nodejs/api' },
      { host: 'my-application.my-namespace', path: '/static' },
      ...filler.map((f) => ({ ...f, host: 'root.my-namespace' })),
      { host: 'root.my-namespace', path: '/' },
      { host: 'root.my-namespace', path: '/special' },
    ]),
  ]);
  for (const [label, routes] of [
    ['few routes per host', sparse],
    ['many routes per host', crowded],
  ] as const) {
    describe(`path match (prefix by segment, longest wins), ${label}`, () => {
      const h = 'my-application.my-namespace';
      for (const [path, expected] of [
        ['/nodejs', '/nodejs'],
        ['/nodejs/', '/nodejs'],
        ['/nodejs/x', '/nodejs'],
        ['/nodejs/x/y/z', '/nodejs'],
        ['/nodejs?q=1', '/nodejs'],
        ['/nodejs#frag', '/nodejs'],
        ['/nodejs/api', '/nodejs/api'],
        ['/nodejs/api/v1?x=/y', '/nodejs/api'],
        ['/nodejs/apis', '/nodejs'],
        ['//nodejs//api', '/nodejs/api'],
        ['/nodejs/./api', '/nodejs/api'],
        ['/nodejs/api/../x', '/nodejs'],
        ['/%6Eodejs', '/nodejs'],
        ['/nodejsfoo', 'unknown-path'],
        ['/nodejs%2Fapi', 'unknown-path'],
        ['/', 'unknown-path'],
        ['/static/../nodejs', '/nodejs'],
        ['/other', 'unknown-path'],
      ] as const) {
        it(`${path} -> ${expected}`, () => {
          expect(matchedPath(routes, h, path)).to.equal(expected);
        });
      }

      it('lets / match every path of its host', () => {
        expect(matchedPath(routes, 'root.my-namespace', '/')).to.equal('/');
        expect(matchedPath(routes, 'root.my-namespace', '/anything/at/all?x')).to.equal('/');
        expect(matchedPath(routes, 'root.my-namespace', '/special/x')).to.equal('/special');
        expect(matchedPath(routes, 'root.my-namespace', '/specialx')).to.equal('/');
        expect(matchedPath(routes, 'root.my-namespace', '')).to.equal('/');
      });

      it('names the host on an unknown path', () => {
        expect(routes.match('My-Application.my-namespace:80', '/x')).to.deep.equal({
          kind: 'unknown-path',
          host: 'my-application.my-namespace',
        });
      });
    });
  }

  it('carries namespace, endpoints, id, enforcement and API-key hashes on the route', () => {
    const hashes = keyHashes('k1', 'k2');
    const keyed = RouteTable.fromResources([
      table('ns', [{ host: 'a.ns', path: '/x' }], { apiKeyHashes: hashes }),
    ]);
    const m = keyed.match('a.ns', '/x/y');
    expect(m.kind).to.equal('route');
    if (m.kind !== 'route') return;
    expect(m.route).to.deep.include({ id: 'a.ns/x', host: 'a.ns', path: '/x', namespace: 'ns' });
    expect(m.route.apiKeyHashes).to.deep.equal(hashes);
    expect(m.route.apiKeyRequired).to.equal(true);
    expect(m.route.enforcedAt).to.equal('caller'); // a table without the field
    expect(m.route.endpoints).to.deep.equal([
      { ip: '127.0.0.11', port: 3000, pod: 'ns-pod', namespace: 'ns', key: '127.0.0.11:3000' },
    ]);
    expect(Object.isFrozen(m.route)).to.equal(true);
    expect(Object.isFrozen(m.route.endpoints)).to.equal(true);
  });

  it('normalises hosts and paths written by hand in a RouteTable', () => {
    const t2 = RouteTable.fromResources([table('ns', [{ host: 'A.NS', path: '/x/' }])]);
    expect(t2.hosts()).to.deep.equal(['a.ns']);
    expect(matchedPath(t2, 'a.ns', '/x/1')).to.equal('/x');
  });

  describe('merging namespaces', () => {
    it('keeps the oldest claim of a host+path and reports the loser', () => {
      const merged = RouteTable.fromResources([
        table('young', [{ host: 'h', path: '/p', claimedAt: '2024-06-01T00:00:00Z' }]),
        table('old', [{ host: 'h', path: '/p', claimedAt: '2023-06-01T00:00:00Z' }]),
      ]);
      const m = merged.match('h', '/p');
      expect(m.kind === 'route' && m.route.namespace).to.equal('old');
      expect(merged.conflicts).to.deep.equal([
        { host: 'h', path: '/p', winner: 'old', loser: 'young' },
      ]);
      expect(merged.routeCount).to.equal(1);
    });

    it('breaks a tie by namespace name, whatever the input order', () => {
      for (const order of [
        ['b', 'a'],
        ['a', 'b'],
      ]) {
        const merged = RouteTable.fromResources(
          order.map((ns) => table(ns, [{ host: 'h', path: '/p' }])),
        );
        const m = merged.match('h', '/p');
        expect(m.kind === 'route' && m.route.namespace).to.equal('a');
      }
    });

    it('pools two tables of one namespace and de-duplicates endpoints', () => {
      const merged = RouteTable.fromResources([
        table('ns', [{ host: 'h', path: '/p' }]),
        table('ns', [
          {
            host: 'h',
            path: '/p',
            endpoints: [
              { ip: '127.0.0.11', port: 3000, pod: 'ns-pod' },
              { ip: '127.0.0.12', port: 3000, pod: 'ns-pod-2' },
            ],
          },
        ]),
      ]);
      const m = merged.match('h', '/p');
      expect(m.kind === 'route' && m.route.endpoints.map((e) => e.key)).to.deep.equal([
        '127.0.0.11:3000',
        '127.0.0.12:3000',
      ]);
    });

    it('carries skipped entries and conflicts from the tables status', () => {
      const skip = {
        namespace: 'ns',
        pod: 'p',
        annotation: 'privateHosts',
        value: 'x_',
        reason: 'r',
      };
      const conflict = { host: 'h', path: '/q', winner: 'a', loser: 'ns' };
      const merged = RouteTable.fromResources([
        table('ns', [], { status: { skipped: [skip], conflicts: [conflict] } }),
        table('a', [], { status: { skipped: [], conflicts: [conflict] } }),
      ]);
      expect(merged.skipped).to.deep.equal([skip]);
      expect(merged.conflicts).to.deep.equal([conflict]);
    });
  });

  it('numbers tables monotonically', () => {
    const a = RouteTable.empty();
    const b = RouteTable.fromResources([]);
    expect(b.version).to.be.greaterThan(a.version);
    expect(a.routeCount).to.equal(0);
    expect(a.match('x', '/')).to.deep.equal({ kind: 'unknown-host' });
  });

  it('serialises for /routes without the API-key hashes, with where the route is enforced', () => {
    const [hash] = keyHashes('k');
    const t3 = RouteTable.fromResources([
      table('ns', [{ host: 'h', path: '/p', enforcedAt: 'destination' }], {
        apiKeyHashes: hash === undefined ? [] : [hash],
      }),
    ]);
    const json = t3.toJSON();
    expect(JSON.stringify(json)).not.to.contain(hash?.hash);
    expect(JSON.stringify(json)).not.to.contain(hash?.salt);
    expect(json).to.deep.include({ version: t3.version, routeCount: 1 });
    expect(json.routes[0]).to.deep.include({
      id: 'h/p',
      namespace: 'ns',
      apiKeyRequired: true,
      enforcedAt: 'destination',
    });
  });

  it('requires a key, which nothing passes, on a table with SHA-256 digests only (an older controller)', () => {
    const legacy = RouteTable.fromResources([
      table('ns', [{ host: 'h', path: '/p' }], { apiKeySha256: ['0'.repeat(64)] }),
    ]);
    const m = legacy.match('h', '/p');
    expect(m.kind === 'route' && m.route.apiKeyRequired).to.equal(true);
    expect(m.kind === 'route' && m.route.apiKeyHashes.length).to.equal(0);
  });

  it('pools two tables of one namespace as enforced at the destination only when both are', () => {
    const both = (a: 'caller' | 'destination', b: 'caller' | 'destination'): string => {
      const t = RouteTable.fromResources([
        table('ns', [{ host: 'h', path: '/p', enforcedAt: a }]),
        {
          ...table('ns', [{ host: 'h', path: '/p', enforcedAt: b }]),
          metadata: { name: 'x', namespace: 'ns' },
        },
      ]);
      const m = t.match('h', '/p');
      return m.kind === 'route' ? m.route.enforcedAt : m.kind;
    };
    expect(both('destination', 'destination')).to.equal('destination');
    expect(both('destination', 'caller')).to.equal('caller');
    expect(both('caller', 'destination')).to.equal('caller');
  });

  it('finds the longest of many routes quickly', () => {
    const many = RouteTable.fromResources([
      table(
        'ns',
        Array.from({ length: 10_000 }, (_, i) => ({ host: `h${i % 100}.ns`, path: `/p/${i}` })),
      ),
    ]);
    expect(many.routeCount).to.equal(10_000);
    const started = process.hrtime.bigint();
    let hits = 0;
    for (let i = 0; i < 100_000; i++) {
      const m = many.match(`H${i % 100}.ns:80`, `/p/${i % 10_000}/deep/er?x=1`);
      if (m.kind === 'route') hits++;
    }
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(hits).to.equal(100_000);
    // Generous bound (a loaded 2-core machine): ~1 µs per match is typical.
    expect(elapsedMs).to.be.lessThan(5_000);
  });
});

describe('hostKey and endpointKey', () => {
  it('strips ports, brackets and the trailing dot', () => {
    expect(hostKey('Example.COM:443')).to.equal('example.com');
    expect(hostKey('[::1]:8080')).to.equal('::1');
    expect(hostKey('a.b.')).to.equal('a.b');
  });

  it('brackets IPv6 endpoints', () => {
    expect(endpointKey('127.0.0.1', 80)).to.equal('127.0.0.1:80');
    expect(endpointKey('fd00::1', 80)).to.equal('[fd00::1]:80');
  });
});
