import type {
  RouteSpec,
  RouteTableResource,
  RouteTableSpec,
} from '../../shared/route-table-resource.js';

/** A route claimed at the fixed time every test table uses, with no endpoints unless given. */
export type TestRoute = Partial<RouteSpec> & { host: string; path: string };

/**
 * The private plane's RouteTable of `namespace` (`detour-private`, as the controller
 * names it) holding `routes`; `spec` adds the key fields, `status` a status.
 */
export function privateTable(
  namespace: string,
  routes: TestRoute[],
  spec: Pick<RouteTableSpec, 'apiKeyHashes' | 'apiKeySha256'> = {},
  status?: RouteTableResource['status'],
): RouteTableResource {
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'RouteTable',
    metadata: { name: 'detour-private', namespace },
    spec: {
      plane: 'private',
      ...spec,
      routes: routes.map((r) => ({ claimedAt: '2024-01-01T00:00:00Z', endpoints: [], ...r })),
    },
    ...(status === undefined ? {} : { status }),
  };
}
