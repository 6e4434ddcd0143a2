import { expect } from 'chai';
import { formatRouteTable } from '../../sidecar/route-table-format.js';
import { RouteTable } from '../../sidecar/route-table.js';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { apiKeySecret, routablePod } from '../support/routable-pod.js';
import { privateTable } from '../support/route-tables.js';

describe('route table for people', () => {
  it('lists routes in aligned columns, then skipped entries and conflicts', () => {
    const table = RouteTable.fromResources(
      compile(
        {
          pods: [
            routablePod({
              name: 'o',
              namespace: 'old',
              hosts: 'shared.example',
              paths: '3000:/',
              created: '2020-01-01T00:00:00Z',
            }),
            routablePod({
              name: 'n',
              namespace: 'new',
              ip: '127.0.0.12',
              hosts: 'shared.example long-name.new api.github.com',
              paths: '3000:/ 3000:x',
            }),
          ],
          secrets: [apiKeySecret('old', { 'private-api-key': 'k' })],
          hostGrants: [
            {
              apiVersion: 'detour.dev/v1alpha1',
              kind: 'HostGrant',
              metadata: { name: 'shared' },
              spec: { namespaces: ['old', 'new'], hosts: ['shared.example'] },
            },
          ],
        },
        loadPlaneConfig('private', {}),
      ),
    );
    const text = formatRouteTable({ source: 'file:/c.yaml', ready: false, ...table.toJSON() });
    expect(text).to.equal(
      [
        `source file:/c.yaml, table v${table.version}, 2 route(s), NOT READY`,
        '',
        'HOST            PATH  NAMESPACE  API KEY  ENFORCED AT  POLICY  ENDPOINTS',
        'long-name.new   /     new        no       caller       -       127.0.0.12:3000 (n)',
        'shared.example  /     old        yes      caller       -       127.0.0.11:3000 (o)',
        '',
        'skipped entries (2):',
        '  new/n privatePaths "3000:x": PATH must start with /',
        '  new/n privateHosts "api.github.com": host not claimable by namespace new: not under' +
          ' *.new, *.new.svc, *.new.svc.cluster.local and no HostGrant gives it to new in the' +
          ' private plane',
        '',
        'conflicts (1), the oldest claim wins:',
        '  shared.example/: old wins over new',
        '',
      ].join('\n'),
    );
  });

  it('marks a route without endpoints and an empty table', () => {
    const empty = formatRouteTable(RouteTable.empty().toJSON());
    expect(empty).to.match(/^table v\d+, 0 route\(s\)\n$/);
    const t = RouteTable.fromResources([privateTable('ns', [{ host: 'h', path: '/' }])]);
    expect(formatRouteTable(t.toJSON())).to.contain(
      'h     /     ns         no       caller       -       (none: 503)',
    );
  });
});

describe('route table JSON and text with an ApiPolicy', () => {
  it('shows the policy on its route (--json) and names it in the POLICY column', () => {
    const t = RouteTable.fromResources([
      privateTable('ns', [
        {
          host: 'h.ns',
          path: '/',
          policy: { name: 'ns/limit', rateLimit: { requests: 5, windowSeconds: 60, key: 'none' } },
        },
      ]),
    ]);
    const json = t.toJSON();
    expect(json.routes[0]?.policy).to.deep.equal({
      name: 'ns/limit',
      rateLimit: { requests: 5, windowSeconds: 60, key: 'none' },
    });
    expect(formatRouteTable(json)).to.match(/h\.ns +\/ +ns +no +caller +ns\/limit +\(none: 503\)/);
  });
});
