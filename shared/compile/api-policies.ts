import type { Plane, PlaneConfig } from '../plane-config.js';
import { parseApiPolicy, type PolicySelector, type RoutePolicy } from '../api-policy.js';
import { compareText } from '../compare-text.js';
import { isRecord } from '../is-record.js';
import { isSegmentPrefix, normalisePath } from '../path-prefix.js';
import { latestByKey, namespaceOf, objectKey, rfc3339 } from './object-keys.js';
import type { NamespaceState, Pool } from './pod-routes.js';

/**
 * The compiler's ApiPolicy input kind (DESIGN.md "ApiPolicy: API management in the
 * call"): each valid policy attaches to the routes of its own namespace that its selector
 * matches, and a route carries at most one policy, compiled inline.
 *
 * Selection, per route of the namespace in this plane:
 * - `planes` (default both) must include the plane;
 * - `hosts` (default every host) must name the route's host, ignoring case;
 * - `paths` (default every path): a policy path is a segment-wise prefix of the *route's*
 *   path, so `/nodejs` attaches to the routes `/nodejs` and `/nodejs/v2`, not to `/`
 *   nor `/nodejsfoo`. A route is the unit a policy applies to: attaching `/nodejs` to the
 *   route `/` would put every path of that route under the policy. To govern only the
 *   `/nodejs` calls a pod serves under `/`, declare a `/nodejs` route for it.
 *
 * Several matching policies: the most specific wins, as Gateway API policy attachment
 * orders them (https://gateway-api.sigs.k8s.io/geps/gep-713/#conflict-resolution):
 * 1. one that names the route's host beats one that does not;
 * 2. then the longest matching path (no `paths` counts as shorter than `/`);
 * 3. then the oldest `creationTimestamp`;
 * 4. then the name, in code-point order.
 * The others lose that route and report it (`Conflicted`). An invalid policy attaches
 * nowhere and reports why (`Accepted: False`, reason `Invalid`); the rest still route.
 */
export interface ApiPolicyOutcome {
  namespace: string;
  name: string;
  /** `metadata.generation` of the object compiled (the conditions' observedGeneration). */
  generation: number | undefined;
  /**
   * The plane whose controller writes this policy's status, so that the private and
   * public controllers never write over each other: private when the policy selects it
   * (or its planes cannot be read), else public.
   */
  reportedBy: Plane;
  /** Why the spec is refused, naming the field and value; undefined when valid. */
  problem: string | undefined;
  /** Ids (`host/path`) of this plane's routes that carry the policy, sorted. */
  routes: string[];
  /** Routes it matched but a more specific policy won, sorted by route. */
  lost: PolicyLoss[];
}

export interface PolicyLoss {
  route: string;
  /** `namespace/name` of the policy the route carries. */
  winner: string;
  /** Why the winner ranks first, e.g. `it names the host`. */
  because: string;
}

export interface ApiPolicySelection {
  /** The policy the namespace's route `id` (host + path) carries, if any. */
  policyOf(namespace: string, id: string): RoutePolicy | undefined;
  /** One per ApiPolicy object (latest by namespace/name), sorted by namespace/name. */
  outcomes: ApiPolicyOutcome[];
}

interface PolicyObject {
  metadata?: {
    name?: string;
    namespace?: string;
    generation?: number;
    creationTimestamp?: Date | string;
  };
  spec?: unknown;
}

interface Candidate {
  outcome: ApiPolicyOutcome;
  policy: RoutePolicy;
  selector: PolicySelector;
  paths: string[] | undefined;
  createdMs: number;
}

interface Rank {
  candidate: Candidate;
  namesHost: boolean;
  pathLength: number;
}

export function selectApiPolicies(
  objects: readonly unknown[],
  namespaces: ReadonlyMap<string, NamespaceState>,
  config: PlaneConfig,
): ApiPolicySelection {
  const outcomes: ApiPolicyOutcome[] = [];
  const byNamespace = new Map<string, Candidate[]>();
  for (const object of latestByKey(objects.filter(isPolicyObject))) {
    const namespace = namespaceOf(object);
    const name = object.metadata?.name ?? '';
    const parsed = parseApiPolicy(objectKey(object), object.spec, config.apiKeyHeader);
    const outcome: ApiPolicyOutcome = {
      namespace,
      name,
      generation: object.metadata?.generation,
      reportedBy: parsed.ok ? reporter(parsed.selector.planes) : reporterOfRaw(object.spec),
      problem: parsed.ok ? undefined : parsed.problem,
      routes: [],
      lost: [],
    };
    outcomes.push(outcome);
    if (!parsed.ok || !parsed.selector.planes.includes(config.plane)) continue;
    const list = byNamespace.get(namespace) ?? [];
    list.push({
      outcome,
      policy: parsed.policy,
      selector: parsed.selector,
      paths: parsed.selector.paths?.map(normalisePath),
      createdMs: Date.parse(rfc3339(object.metadata?.creationTimestamp)),
    });
    byNamespace.set(namespace, list);
  }

  const attached = new Map<string, RoutePolicy>();
  for (const [namespace, candidates] of byNamespace) {
    const state = namespaces.get(namespace);
    if (state === undefined) continue;
    for (const [id, pool] of state.pools) {
      const ranks = candidates
        .map((candidate) => rank(candidate, pool))
        .filter((r) => r !== undefined)
        .sort(byPrecedence);
      const [winner, ...losers] = ranks;
      if (winner === undefined) continue;
      // Pools are keyed by host + path, the route id the proxy logs and metrics use.
      attached.set(`${namespace}\u0000${id}`, winner.candidate.policy);
      winner.candidate.outcome.routes.push(id);
      for (const loser of losers) {
        loser.candidate.outcome.lost.push({
          route: id,
          winner: winner.candidate.policy.name,
          because: whyFirst(winner, loser),
        });
      }
    }
  }
  for (const outcome of outcomes) {
    outcome.routes.sort(compareText);
    outcome.lost.sort((a, b) => compareText(a.route, b.route));
  }
  return {
    policyOf: (namespace, id) => attached.get(`${namespace}\u0000${id}`),
    outcomes,
  };
}

/** How specifically `candidate` matches `pool`, or undefined when it does not. */
function rank(candidate: Candidate, pool: Pool): Rank | undefined {
  const { hosts } = candidate.selector;
  if (hosts !== undefined && !hosts.includes(pool.host)) return undefined;
  let pathLength = 0;
  if (candidate.paths !== undefined) {
    const matching = candidate.paths.filter((p) => isSegmentPrefix(p, pool.path));
    if (matching.length === 0) return undefined;
    pathLength = Math.max(...matching.map((p) => p.length));
  }
  return { candidate, namesHost: hosts !== undefined, pathLength };
}

function byPrecedence(a: Rank, b: Rank): number {
  return (
    Number(b.namesHost) - Number(a.namesHost) ||
    b.pathLength - a.pathLength ||
    a.candidate.createdMs - b.candidate.createdMs ||
    compareText(a.candidate.outcome.name, b.candidate.outcome.name)
  );
}

/** The first rule of `byPrecedence` that separates the two, in words. */
function whyFirst(winner: Rank, loser: Rank): string {
  if (winner.namesHost !== loser.namesHost) return 'it names the host';
  if (winner.pathLength !== loser.pathLength) return 'it matches a longer path';
  if (winner.candidate.createdMs !== loser.candidate.createdMs) return 'it is older';
  return 'it is as old and its name sorts first';
}

function reporter(planes: readonly Plane[]): Plane {
  return planes.includes('private') ? 'private' : 'public';
}

/** An invalid spec's planes, when they can still be read; else private. */
function reporterOfRaw(spec: unknown): Plane {
  const planes = (spec as { planes?: unknown } | undefined)?.planes;
  const onlyPublic =
    Array.isArray(planes) && planes.length > 0 && planes.every((p) => p === 'public');
  return onlyPublic ? 'public' : 'private';
}

function isPolicyObject(object: unknown): object is PolicyObject {
  return isRecord(object);
}
