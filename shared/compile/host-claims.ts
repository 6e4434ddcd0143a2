import type { V1Namespace } from '@kubernetes/client-node';
import type { PlaneConfig } from '../plane-config.js';
import { parseHostGrant, type HostGrantResource } from '../host-grant.js';
import { selectorMatches } from '../label-selector.js';
import { isIPv4 } from '../routing-annotations.js';

/**
 * Who may claim a host (DESIGN.md "Who may claim a host", docs/adr/0006-host-claims.md).
 * The compiler's input kind: HostGrants, plus the Namespaces whose labels their
 * `namespaceSelector`s read.
 *
 * - `open` (DETOUR_HOST_POLICY=open): anyone claims anything, as in the seed;
 * - `scoped` (default): namespace N claims hosts ending in `.N`, `.N.svc` or
 *   `.N.svc.<cluster domain>` (the names Kubernetes DNS gives N's Services:
 *   https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#namespaces-of-services),
 *   and whatever a HostGrant of this plane gives N. An IPv4 host is never N's own (an
 *   address like 10.0.0.123 "ends in" a namespace named 123): it needs a grant.
 */
export interface HostClaimPolicy {
  /** Why `namespace` may not claim `host` (a lower-case name or IPv4), or undefined. */
  refusal(namespace: string, host: string): string | undefined;
}

export interface HostClaimInput {
  hostGrants?: readonly unknown[];
  namespaces?: readonly V1Namespace[];
}

const OPEN: HostClaimPolicy = { refusal: () => undefined };

export function hostClaimPolicy(input: HostClaimInput, config: PlaneConfig): HostClaimPolicy {
  if (config.hostPolicy === 'open') return OPEN;
  const grants = validGrants(input.hostGrants ?? [], config);
  const labels = new Map(
    (input.namespaces ?? []).map((ns) => [ns.metadata?.name ?? '', namespaceLabels(ns)]),
  );
  const patternsOf = new Map<string, HostPatterns>();
  return {
    refusal(namespace, host) {
      if (ownsHost(namespace, host, config.clusterDomain)) return undefined;
      let patterns = patternsOf.get(namespace);
      if (patterns === undefined) {
        patterns = grantedPatterns(grants, namespace, labels.get(namespace));
        patternsOf.set(namespace, patterns);
      }
      return patterns.matches(host) ? undefined : refusalReason(namespace, config);
    },
  };
}

/** Stable text: tests, logs and `RouteTable.status.skipped` quote it. */
export function refusalReason(namespace: string, config: PlaneConfig): string {
  const own = ownSuffixes(namespace, config.clusterDomain).map((suffix) => `*${suffix}`);
  return (
    `host not claimable by namespace ${namespace}: not under ${own.join(', ')}` +
    ` and no HostGrant gives it to ${namespace} in the ${config.plane} plane`
  );
}

export function ownsHost(namespace: string, host: string, clusterDomain: string): boolean {
  if (isIPv4(host)) return false;
  return ownSuffixes(namespace, clusterDomain).some((suffix) => host.endsWith(suffix));
}

/** `.N`, `.N.svc`, `.N.svc.<cluster domain>`: at least one label must come before. */
function ownSuffixes(namespace: string, clusterDomain: string): string[] {
  return [`.${namespace}`, `.${namespace}.svc`, `.${namespace}.svc.${clusterDomain}`];
}

/** The hosts a namespace was granted: exact names and `*.suffix` suffixes (with the dot). */
class HostPatterns {
  readonly #exact = new Set<string>();
  readonly #suffixes: string[] = [];

  add(pattern: string): void {
    const name = pattern.toLowerCase().replace(/\.$/, '');
    if (name.startsWith('*.')) this.#suffixes.push(name.slice(1));
    else this.#exact.add(name);
  }

  /**
   * `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`
   * (as a TLS wildcard would not, and unlike it, at any depth); grant the apex by name.
   */
  matches(host: string): boolean {
    return this.#exact.has(host) || this.#suffixes.some((suffix) => host.endsWith(suffix));
  }
}

function grantedPatterns(
  grants: readonly HostGrantResource[],
  namespace: string,
  labels: Readonly<Record<string, string>> | undefined,
): HostPatterns {
  const patterns = new HostPatterns();
  for (const grant of grants) {
    if (!grantsTo(grant, namespace, labels)) continue;
    for (const host of grant.spec.hosts) patterns.add(host);
  }
  return patterns;
}

/**
 * Listed by name, or selected by labels. A namespace the controller has not seen (yet)
 * has only the name label the API server gives every namespace.
 */
function grantsTo(
  grant: HostGrantResource,
  namespace: string,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const { namespaces, namespaceSelector } = grant.spec;
  if (namespaces?.includes(namespace) === true) return true;
  return (
    namespaceSelector !== undefined &&
    selectorMatches(namespaceSelector, labels ?? { 'kubernetes.io/metadata.name': namespace })
  );
}

function validGrants(objects: readonly unknown[], config: PlaneConfig): HostGrantResource[] {
  const grants: HostGrantResource[] = [];
  for (const object of objects) {
    const parsed = parseHostGrant(object);
    if (!parsed.ok) continue;
    const planes = parsed.value.spec.planes ?? ['private', 'public'];
    if (planes.includes(config.plane)) grants.push(parsed.value);
  }
  return grants;
}

/**
 * The API server sets `kubernetes.io/metadata.name` on every Namespace; a Namespace
 * written in a YAML file may lack it, so it is added here as the API server would.
 * https://kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name
 */
function namespaceLabels(namespace: V1Namespace): Record<string, string> {
  return {
    ...namespace.metadata?.labels,
    'kubernetes.io/metadata.name': namespace.metadata?.name ?? '',
  };
}
