import type { Plane } from './plane-config.js';
import type { RoutePolicy } from './api-policy.js';

/**
 * The RouteTable custom resource (detour.dev/v1alpha1): what the controller compiles
 * from Pods and Secrets, one object per namespace and plane, and what every proxy
 * watches. It holds no secret: API keys travel as salted scrypt hashes.
 *
 * manifests/base/crd.yaml is the schema the API server enforces for this shape.
 */
export const ROUTE_TABLE_GROUP = 'detour.dev';
export const ROUTE_TABLE_VERSION = 'v1alpha1';
export const ROUTE_TABLE_API_VERSION = `${ROUTE_TABLE_GROUP}/${ROUTE_TABLE_VERSION}`;
export const ROUTE_TABLE_KIND = 'RouteTable';
export const ROUTE_TABLE_PLURAL = 'routetables';

/** One RouteTable per namespace and plane, named after the plane. */
export function routeTableName(plane: Plane): string {
  return `detour-${plane}`;
}

export interface RouteEndpoint {
  ip: string;
  port: number;
  /** The pod behind the endpoint, for logs and `detour routes`. */
  pod: string;
}

export interface RouteSpec {
  /** Lower-case hostname or IPv4 address, no port. */
  host: string;
  /** Normalised path prefix: starts with `/`, no trailing `/` except the root. */
  path: string;
  /**
   * RFC 3339 time of the oldest pod claiming this host+path in this namespace; across
   * namespaces the oldest claim wins (ties: namespace name order).
   */
  claimedAt: string;
  endpoints: RouteEndpoint[];
  /** The ApiPolicy that applies to this route, compiled inline (absent: none). */
  policy?: RoutePolicy;
  /**
   * Who checks the namespace's policies (the API key): `destination` when every endpoint
   * pod's own sidecar enforces inbound on the endpoint's port (its `detour.dev/status`
   * says so), else `caller` (DESIGN.md "Enforce at the destination"). Tables written
   * before this field count as `caller`.
   */
  enforcedAt?: EnforcedAt;
}

export type EnforcedAt = 'destination' | 'caller';

/**
 * One accepted API-key header value as a salted scrypt hash (shared/api-key-hash.ts,
 * docs/adr/0007-api-key-hash.md); the parameters travel with it so they can change.
 */
export interface ApiKeyHash {
  algorithm: 'scrypt';
  /** CPU/memory cost (a power of two), block size and parallelism (RFC 7914, section 2). */
  n: number;
  r: number;
  p: number;
  /** Base64, unique per Secret. */
  salt: string;
  /** Base64 of the derived key. */
  hash: string;
}

export interface RouteTableSpec {
  plane: Plane;
  /**
   * Salted scrypt hashes of the accepted API-key header values: the Secret's `.data`
   * string (base64, as the seed compared it) and the decoded plain value. Absent or empty
   * when the namespace has no API-key Secret.
   */
  apiKeyHashes?: ApiKeyHash[];
  /**
   * Deprecated (tables of detour 0.1 carried hex SHA-256 digests of the key here). The
   * compiler now writes one all-zero value, which no key hashes to, beside
   * `apiKeyHashes`: a 0.1 proxy still reading this field then refuses every key instead
   * of letting calls through unchecked during an upgrade. A proxy of this version
   * treats the field as "a key is required" and verifies only `apiKeyHashes`.
   */
  apiKeySha256?: string[];
  routes: RouteSpec[];
}

export interface SkippedEntry {
  namespace: string;
  pod: string;
  annotation: string;
  value: string;
  reason: string;
}

export interface RouteConflict {
  host: string;
  path: string;
  /** Namespace whose (older) claim serves the route. */
  winner: string;
  /** Namespace whose claim was dropped. */
  loser: string;
}

export interface RouteTableStatus {
  skipped: SkippedEntry[];
  conflicts: RouteConflict[];
  /**
   * Summaries for `kubectl get routetables` (the CRD's printer columns cannot count or
   * collect a list): the sorted distinct hosts of spec.routes, len(spec.routes) and
   * len(conflicts). Optional: readers never depend on them.
   */
  hosts?: string[];
  routeCount?: number;
  conflictCount?: number;
}

export interface RouteTableResource {
  apiVersion: typeof ROUTE_TABLE_API_VERSION;
  kind: typeof ROUTE_TABLE_KIND;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
    creationTimestamp?: string;
    uid?: string;
  };
  spec: RouteTableSpec;
  status?: RouteTableStatus;
}
