import type { V1Namespace, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { PlaneConfig } from './plane-config.js';
import { PLANE_LABEL } from './labels.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_KIND,
  routeTableName,
  type ApiKeyHash,
  type EnforcedAt,
  type RouteSpec,
  type RouteTableResource,
} from './route-table-resource.js';
import { ApiKeyHasher } from './api-key-hash.js';
import { compareText } from './compare-text.js';
import { hostClaimPolicy } from './compile/host-claims.js';
import { podRoutes, type NamespaceState, type PoolEndpoint } from './compile/pod-routes.js';
import { resolveConflicts } from './compile/conflicts.js';
import { LEGACY_KEY_LOCK, NamespaceApiKeys } from './compile/api-keys.js';
import {
  selectApiPolicies,
  type ApiPolicyOutcome,
  type ApiPolicySelection,
} from './compile/api-policies.js';

export { rfc3339 } from './compile/object-keys.js';

/**
 * The compiler: Kubernetes objects in, one RouteTable per namespace out. Pure and
 * deterministic (same objects, in any order => deep-equal output), so the controller's
 * replicas agree without a leader, and the file source, the demo and the tests run
 * exactly the production path.
 *
 * One module per input kind, under shared/compile/:
 * - pod-routes.ts: routable pods' annotations -> pools per namespace and host+path;
 * - host-claims.ts: HostGrants and Namespaces -> which namespace may claim which host;
 * - api-keys.ts: the API-key Secrets -> salted scrypt hashes;
 * - api-policies.ts: ApiPolicies -> the policy each route carries inline;
 * conflicts.ts settles host+path claims across namespaces (the oldest wins) before the
 * policies attach, so a policy only ever attaches to routes its namespace serves.
 */
export interface CompileInput {
  pods: readonly V1Pod[];
  secrets: readonly V1Secret[];
  /** Only read when DETOUR_HOST_POLICY is `scoped`; invalid ones grant nothing. */
  hostGrants?: readonly unknown[];
  /** For HostGrants' namespaceSelector. */
  namespaces?: readonly V1Namespace[];
  /** ApiPolicy objects, unchecked: an invalid one is reported in the outcomes and skipped. */
  apiPolicies?: readonly unknown[];
}

export interface CompileResult {
  tables: RouteTableResource[];
  /** One per ApiPolicy: what it attached to, what it lost, why it was refused. */
  apiPolicies: ApiPolicyOutcome[];
}

const EMPTY_NAMESPACE: NamespaceState = { pools: new Map(), skipped: [], conflicts: [] };

/**
 * Keys are hashed through this memo unless the caller brings its own (the controller
 * does, and fills it asynchronously first): scrypt is slow on purpose.
 */
const sharedHasher = new ApiKeyHasher();

/** The tables only (the file source, the tools): see compileWithOutcomes. */
export function compile(
  input: CompileInput,
  config: PlaneConfig,
  hasher: ApiKeyHasher = sharedHasher,
): RouteTableResource[] {
  return compileWithOutcomes(input, config, hasher).tables;
}

export function compileWithOutcomes(
  input: CompileInput,
  config: PlaneConfig,
  hasher: ApiKeyHasher = sharedHasher,
): CompileResult {
  const namespaces = podRoutes(input.pods, config, hostClaimPolicy(input, config));
  resolveConflicts(namespaces);
  const apiKeys = new NamespaceApiKeys(input.secrets, config, hasher);
  const policies = selectApiPolicies(input.apiPolicies ?? [], namespaces, config);
  const tables: RouteTableResource[] = [];
  // A namespace with a key but no route still gets a table: its pods' own sidecars check
  // inbound calls that match no route against the namespace's key (DESIGN.md, "Enforce
  // at the destination"), and they only read RouteTables.
  const all = new Set([...namespaces.keys(), ...apiKeys.namespaces()]);
  for (const namespace of [...all].sort(compareText)) {
    const s = namespaces.get(namespace) ?? EMPTY_NAMESPACE;
    const hashes = apiKeys.hashesOf(namespace);
    const empty = s.pools.size === 0 && s.skipped.length === 0 && s.conflicts.length === 0;
    if (empty && hashes.length === 0) continue;
    tables.push(toResource(namespace, s, hashes, policies, config));
  }
  return { tables, apiPolicies: policies.outcomes };
}

function toResource(
  namespace: string,
  s: NamespaceState,
  apiKeyHashes: ApiKeyHash[],
  policies: ApiPolicySelection,
  config: PlaneConfig,
): RouteTableResource {
  const routes: RouteSpec[] = [...s.pools.entries()]
    .sort(([, a], [, b]) => compareText(a.host, b.host) || compareText(a.path, b.path))
    .map(([id, pool]) => {
      const policy = policies.policyOf(namespace, id);
      return {
        host: pool.host,
        path: pool.path,
        claimedAt: pool.claimedAt,
        endpoints: [...pool.endpoints]
          .sort((a, b) => compareText(a.pod, b.pod) || compareText(a.ip, b.ip) || a.port - b.port)
          .map(({ ip, port, pod }) => ({ ip, port, pod })),
        ...(policy === undefined ? {} : { policy }),
        enforcedAt: enforcedAt(pool.endpoints),
      };
    });
  const conflicts = [...s.conflicts].sort(
    (a, b) =>
      compareText(a.host, b.host) ||
      compareText(a.path, b.path) ||
      compareText(a.winner, b.winner) ||
      compareText(a.loser, b.loser),
  );
  return {
    apiVersion: ROUTE_TABLE_API_VERSION,
    kind: ROUTE_TABLE_KIND,
    metadata: {
      name: routeTableName(config.plane),
      namespace,
      labels: { [PLANE_LABEL]: config.plane },
    },
    spec: {
      plane: config.plane,
      ...(apiKeyHashes.length > 0 ? { apiKeyHashes, apiKeySha256: [LEGACY_KEY_LOCK] } : {}),
      routes,
    },
    status: {
      skipped: s.skipped,
      conflicts,
      hosts: [...new Set(routes.map((r) => r.host))].sort(compareText),
      routeCount: routes.length,
      conflictCount: conflicts.length,
    },
  };
}

/**
 * Enforce once, at the destination, only when no endpoint of the pool could be reached
 * unchecked: one pod without inbound enforcement on its port makes the caller check.
 */
function enforcedAt(endpoints: readonly PoolEndpoint[]): EnforcedAt {
  return endpoints.length > 0 && endpoints.every((e) => e.enforced) ? 'destination' : 'caller';
}
