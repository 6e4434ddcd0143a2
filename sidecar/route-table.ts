import type {
  ApiKeyHash,
  EnforcedAt,
  RouteConflict,
  RouteTableResource,
  SkippedEntry,
} from '../shared/route-table-resource.js';
import { isSegmentPrefix, normalisePath } from '../shared/path-prefix.js';
import { compareText } from '../shared/compare-text.js';
import type { RoutePolicy } from '../shared/api-policy.js';

/**
 * The proxy's route table: immutable, built once per update from the RouteTable
 * resources of one plane, and swapped whole (a request never sees half a table).
 *
 * Matching is nginx's `server_name` + prefix `location`, by segment:
 * 1. the Host header, lower-cased, without its port and trailing dot, picks a host
 *    exactly (one map probe);
 * 2. the request path, normalised as routes are (shared/path-prefix.ts), is compared
 *    with the host's paths longest first (a few routes per host, the usual case), or,
 *    for a host with many routes, cut at each `/` from the longest prefix down to `/`,
 *    one map probe per segment; the first hit is the longest matching route.
 * So a lookup costs O(min(routes of the host, segments of the path)), whatever the
 * total number of routes.
 */

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  readonly pod: string;
  readonly namespace: string;
  /** `ip:port` (`[ip]:port` for an IPv6 pod IP): the authority to connect to. */
  readonly key: string;
}

export interface Route {
  /** `${host}${path}`: the route's name in logs and metric labels. */
  readonly id: string;
  readonly host: string;
  readonly path: string;
  readonly namespace: string;
  readonly endpoints: readonly Endpoint[];
  /** The namespace has an API key: the request must carry one of `apiKeyHashes`' values. */
  readonly apiKeyRequired: boolean;
  /**
   * Salted scrypt hashes of the accepted header values (the same frozen array for every
   * route of a namespace). Empty while `apiKeyRequired`: a table of an older controller
   * (SHA-256 digests only), which no key passes.
   */
  readonly apiKeyHashes: readonly ApiKeyHash[];
  /** Who checks the policies: the destination's own sidecar, or the caller's. */
  readonly enforcedAt: EnforcedAt;
  /** When the namespace first claimed host+path (RFC 3339); the oldest claim wins. */
  readonly claimedAt: string;
  /** The ApiPolicy compiled onto this route, if any. */
  readonly policy: RoutePolicy | undefined;
}

export type MatchResult =
  | { kind: 'route'; route: Route }
  | { kind: 'unknown-host' }
  | { kind: 'unknown-path'; host: string };

/** What admin `GET /routes` serves. API-key hashes are not shown, only whether one applies. */
/** One RouteTable object a table was built from (`/ready` reports them). */
export interface TableSource {
  namespace: string;
  name: string;
  plane: string;
  resourceVersion: string;
}

export interface RouteTableJSON {
  version: number;
  routeCount: number;
  routes: {
    id: string;
    host: string;
    path: string;
    namespace: string;
    claimedAt: string;
    apiKeyRequired: boolean;
    enforcedAt: EnforcedAt;
    endpoints: { ip: string; port: number; pod: string; key: string }[];
    /** The ApiPolicy on the route, as compiled (no secret is in it). */
    policy?: RoutePolicy;
  }[];
  skipped: SkippedEntry[];
  conflicts: RouteConflict[];
}

/** The routes of one host: by exact path, and longest path first. */
interface HostRoutes {
  byPath: Map<string, Route>;
  longestFirst: Route[];
}

/**
 * Up to this many routes, a host is searched by scanning its paths longest first (no
 * allocation); above, by probing the map with each segment-wise prefix of the path.
 */
const SCAN_LIMIT = 8;

function longestPrefix(entry: HostRoutes, path: string): Route | undefined {
  if (entry.longestFirst.length <= SCAN_LIMIT) {
    for (const route of entry.longestFirst) {
      if (isSegmentPrefix(route.path, path)) return route;
    }
    return undefined;
  }
  const exact = entry.byPath.get(path);
  if (exact !== undefined) return exact;
  let end = path.lastIndexOf('/');
  while (end > 0) {
    const route = entry.byPath.get(path.slice(0, end));
    if (route !== undefined) return route;
    end = path.lastIndexOf('/', end - 1);
  }
  return entry.byPath.get('/');
}

let lastVersion = 0;

export class RouteTable {
  /** Monotonic per process: a later table has a higher version. */
  readonly version: number;
  readonly routeCount: number;
  readonly #byHost: ReadonlyMap<string, HostRoutes>;
  readonly #routes: readonly Route[];
  readonly #skipped: readonly SkippedEntry[];
  readonly #conflicts: readonly RouteConflict[];
  /** Per namespace, the route a request that matches none of its routes is checked as. */
  readonly #namespaceRoutes: ReadonlyMap<string, Route>;
  /**
   * The RouteTable objects this table was built from, by resourceVersion: `detour
   * status` compares them with the API server's to say whether a proxy is in sync.
   */
  readonly sources: readonly TableSource[];

  private constructor(
    routes: readonly Route[],
    skipped: readonly SkippedEntry[],
    conflicts: readonly RouteConflict[],
    namespaceRoutes: ReadonlyMap<string, Route> = new Map(),
    sources: readonly TableSource[] = [],
  ) {
    this.#namespaceRoutes = namespaceRoutes;
    this.sources = sources;
    this.version = ++lastVersion;
    const byHost = new Map<string, HostRoutes>();
    for (const route of routes) {
      let entry = byHost.get(route.host);
      if (entry === undefined) {
        entry = { byPath: new Map(), longestFirst: [] };
        byHost.set(route.host, entry);
      }
      entry.byPath.set(route.path, route);
      entry.longestFirst.push(route);
    }
    for (const entry of byHost.values()) {
      entry.longestFirst.sort((a, b) => b.path.length - a.path.length);
    }
    this.#byHost = byHost;
    this.#routes = routes;
    this.routeCount = routes.length;
    this.#skipped = skipped;
    this.#conflicts = conflicts;
  }

  static empty(): RouteTable {
    return new RouteTable([], [], []);
  }

  /**
   * Merges the RouteTables of every namespace of one plane. The compiler already resolved
   * cross-namespace collisions, but tables arrive one by one from the API server (and a
   * file may hold hand-written ones), so the rule is applied again: for one host+path the
   * oldest `claimedAt` wins, ties broken by namespace name; the loser is reported.
   */
  static fromResources(resources: readonly RouteTableResource[]): RouteTable {
    const claims = new Map<string, Route>();
    const conflicts = new Map<string, RouteConflict>();
    const skipped: SkippedEntry[] = [];
    const namespaceRoutes = new Map<string, Route>();
    const sorted = [...resources].sort((a, b) =>
      compareText(a.metadata.namespace, b.metadata.namespace),
    );
    for (const resource of sorted) {
      const namespace = resource.metadata.namespace;
      const apiKey = apiKeyOf(resource);
      namespaceRoutes.set(namespace, namespaceRoute(namespace, apiKey));
      for (const spec of resource.spec.routes) {
        const route = toRoute(namespace, spec, apiKey);
        const id = route.id;
        const held = claims.get(id);
        if (held === undefined) {
          claims.set(id, route);
        } else if (held.namespace === namespace) {
          claims.set(id, mergeRoutes(held, route));
        } else {
          const [winner, loser] = olderFirst(held, route);
          claims.set(id, winner);
          const conflict = {
            host: route.host,
            path: route.path,
            winner: winner.namespace,
            loser: loser.namespace,
          };
          conflicts.set(conflictKey(conflict), conflict);
        }
      }
      skipped.push(...(resource.status?.skipped ?? []));
      for (const conflict of resource.status?.conflicts ?? []) {
        conflicts.set(conflictKey(conflict), conflict);
      }
    }
    const routes = [...claims.values()].sort(
      (a, b) => compareText(a.host, b.host) || compareText(a.path, b.path),
    );
    const allConflicts = [...conflicts.values()].sort((a, b) =>
      compareText(conflictKey(a), conflictKey(b)),
    );
    const sources = sorted.map((r) => ({
      namespace: r.metadata.namespace,
      name: r.metadata.name,
      plane: r.spec.plane,
      resourceVersion: r.metadata.resourceVersion ?? '',
    }));
    return new RouteTable(routes, skipped, allConflicts, namespaceRoutes, sources);
  }

  /** `host` is a Host header (any case, may carry `:port`); `path` may carry `?query`. */
  match(host: string, path: string): MatchResult {
    const name = hostKey(host);
    const entry = this.#byHost.get(name);
    if (entry === undefined) return { kind: 'unknown-host' };
    const route = longestPrefix(entry, normalisePath(path));
    return route === undefined ? { kind: 'unknown-path', host: name } : { kind: 'route', route };
  }

  /**
   * What an inbound request to a pod of `namespace` that matches none of the
   * namespace's routes is checked as (DESIGN.md, "Enforce at the destination"): the
   * namespace-wide policies, today its API key. A namespace without a table needs none.
   */
  namespaceRoute(namespace: string): Route {
    return this.#namespaceRoutes.get(namespace) ?? namespaceRoute(namespace, NO_KEY);
  }

  hasHost(host: string): boolean {
    return this.#byHost.has(hostKey(host));
  }

  /** The known hosts, sorted. */
  hosts(): string[] {
    return [...this.#byHost.keys()].sort(compareText);
  }

  /** Every route, sorted by host then path. */
  routes(): readonly Route[] {
    return this.#routes;
  }

  /** The routes of one host (any case, may carry a port), sorted by path. */
  routesForHost(host: string): Route[] {
    return [...(this.#byHost.get(hostKey(host))?.longestFirst ?? [])].sort((a, b) =>
      compareText(a.path, b.path),
    );
  }

  get skipped(): readonly SkippedEntry[] {
    return this.#skipped;
  }

  get conflicts(): readonly RouteConflict[] {
    return this.#conflicts;
  }

  toJSON(): RouteTableJSON {
    return {
      version: this.version,
      routeCount: this.routeCount,
      routes: this.#routes.map((r) => ({
        id: r.id,
        host: r.host,
        path: r.path,
        namespace: r.namespace,
        claimedAt: r.claimedAt,
        apiKeyRequired: r.apiKeyRequired,
        enforcedAt: r.enforcedAt,
        endpoints: r.endpoints.map((e) => ({ ip: e.ip, port: e.port, pod: e.pod, key: e.key })),
        ...(r.policy === undefined ? {} : { policy: r.policy }),
      })),
      skipped: [...this.#skipped],
      conflicts: [...this.#conflicts],
    };
  }
}

/** The pseudo-route `<namespace>/*` that carries a namespace's own policies. */
function namespaceRoute(namespace: string, apiKey: ApiKey): Route {
  return Object.freeze({
    id: `${namespace}/*`,
    host: '*',
    path: '/',
    namespace,
    endpoints: [],
    apiKeyRequired: apiKey.required,
    apiKeyHashes: apiKey.hashes,
    // Only ever used by the pod's own sidecar, at the destination.
    enforcedAt: 'destination',
    claimedAt: '',
    policy: undefined,
  });
}

/**
 * The Host header as a route key: lower-cased, without port, IPv6 brackets or the
 * trailing dot of a fully-qualified name (nginx strips it too:
 * https://github.com/nginx/nginx/blob/master/src/http/ngx_http_request.c, ngx_http_validate_host).
 */
export function hostKey(host: string): string {
  // V8 returns the same string when nothing changes case, so the usual Host header
  // (a lower-case name without port or dot) costs one scan.
  let name = host.toLowerCase();
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    return close === -1 ? name.slice(1) : name.slice(1, close);
  }
  const colon = name.indexOf(':');
  if (colon !== -1) name = name.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** `ip:port`, bracketing an IPv6 address as a URL authority does. */
export function endpointKey(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

interface ApiKey {
  required: boolean;
  hashes: readonly ApiKeyHash[];
}

/** Any key field makes the key required, so a table this proxy cannot verify fails closed. */
const NO_KEY: ApiKey = { required: false, hashes: Object.freeze([]) };

function apiKeyOf(resource: RouteTableResource): ApiKey {
  const hashes = Object.freeze([...(resource.spec.apiKeyHashes ?? [])]);
  const required = hashes.length > 0 || (resource.spec.apiKeySha256 ?? []).length > 0;
  return { required, hashes };
}

function toRoute(
  namespace: string,
  spec: RouteTableResource['spec']['routes'][number],
  apiKey: ApiKey,
): Route {
  const host = hostKey(spec.host);
  const path = normalisePath(spec.path);
  const endpoints = dedupeEndpoints(
    spec.endpoints.map((e) =>
      Object.freeze({
        ip: e.ip,
        port: e.port,
        pod: e.pod,
        namespace,
        key: endpointKey(e.ip, e.port),
      }),
    ),
  );
  return Object.freeze({
    id: `${host}${path}`,
    host,
    path,
    namespace,
    endpoints: Object.freeze(endpoints),
    apiKeyRequired: apiKey.required,
    apiKeyHashes: apiKey.hashes,
    enforcedAt: spec.enforcedAt ?? 'caller',
    claimedAt: spec.claimedAt,
    policy: spec.policy,
  });
}

function dedupeEndpoints(endpoints: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return endpoints.filter((e) => {
    if (seen.has(e.key)) return false;
    seen.add(e.key);
    return true;
  });
}

/** Two claims of one namespace on one host+path (two tables of one namespace): one pool. */
function mergeRoutes(a: Route, b: Route): Route {
  return Object.freeze({
    ...a,
    endpoints: Object.freeze(dedupeEndpoints([...a.endpoints, ...b.endpoints])),
    // The pooled endpoints all enforce only when both claims said so.
    enforcedAt:
      a.enforcedAt === 'destination' && b.enforcedAt === 'destination' ? a.enforcedAt : 'caller',
    claimedAt: claimTime(b) < claimTime(a) ? b.claimedAt : a.claimedAt,
  });
}

function olderFirst(a: Route, b: Route): [Route, Route] {
  const order = claimTime(a) - claimTime(b) || compareText(a.namespace, b.namespace);
  return order <= 0 ? [a, b] : [b, a];
}

/** Milliseconds since the epoch; an unreadable time counts as the newest claim. */
function claimTime(route: Route): number {
  const ms = Date.parse(route.claimedAt);
  return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
}

function conflictKey(c: RouteConflict): string {
  return `${c.host}${c.path}\u0000${c.winner}\u0000${c.loser}`;
}
