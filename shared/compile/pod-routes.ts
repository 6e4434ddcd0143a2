import type { V1Pod } from '@kubernetes/client-node';
import type { PlaneConfig } from '../plane-config.js';
import type { RouteConflict, RouteEndpoint, SkippedEntry } from '../route-table-resource.js';
import { REASONS, parseHosts, parsePaths, splitEntries } from '../routing-annotations.js';
import { declaredPorts, isEligiblePod } from '../pod-eligibility.js';
import { inboundEnforcedPorts } from '../inbound-status.js';
import type { HostClaimPolicy } from './host-claims.js';
import { latestByKey, namespaceOf, rfc3339 } from './object-keys.js';

/**
 * The compiler's first input kind: routable pods' annotations, as pools of endpoints
 * per namespace and host+path (the seed's rules, README "Routing rules"):
 * 1. eligible pods: the plane's routable labels, Running, Ready, an IP, not terminating;
 * 2. every host of the hosts annotation x every `PORT:PATH` of the paths annotation is a
 *    route to `podIP:PORT`; a bad entry, or a host the namespace may not claim, is
 *    skipped and recorded, the rest still route;
 * 3. pods of one namespace claiming one host+path form one pool, dated by its oldest pod.
 */
export interface Pool {
  host: string;
  path: string;
  claimedAt: string;
  claimedAtMs: number;
  endpoints: PoolEndpoint[];
}

export interface PoolEndpoint extends RouteEndpoint {
  /** The pod's own sidecar enforces inbound on this port (shared/inbound-status.ts). */
  enforced: boolean;
}

export interface NamespaceState {
  pools: Map<string, Pool>;
  skipped: SkippedEntry[];
  conflicts: RouteConflict[];
}

export function podRoutes(
  pods: readonly V1Pod[],
  config: PlaneConfig,
  hostClaims: HostClaimPolicy,
): Map<string, NamespaceState> {
  const namespaces = new Map<string, NamespaceState>();
  for (const pod of latestByKey(pods)) {
    if (!isEligiblePod(pod, config.routableLabels)) continue;
    const namespace = namespaceOf(pod);
    let state = namespaces.get(namespace);
    if (state === undefined) {
      state = { pools: new Map(), skipped: [], conflicts: [] };
      namespaces.set(namespace, state);
    }
    addPod(pod, namespace, state, config, hostClaims);
  }
  return namespaces;
}

function addPod(
  pod: V1Pod,
  namespace: string,
  s: NamespaceState,
  config: PlaneConfig,
  hostClaims: HostClaimPolicy,
): void {
  const annotations = pod.metadata?.annotations ?? {};
  const hostsValue = annotations[config.hostsAnnotation];
  const pathsValue = annotations[config.pathsAnnotation];
  const hasHosts = splitEntries(hostsValue).length > 0;
  const hasPaths = splitEntries(pathsValue).length > 0;
  if (!hasHosts && !hasPaths) return;

  const podName = pod.metadata?.name ?? '';
  const skip = (annotation: string, value: string, reason: string): void => {
    s.skipped.push({ namespace, pod: podName, annotation, value, reason });
  };

  const parsedHosts = parseHosts(hostsValue);
  const paths = parsePaths(pathsValue, declaredPorts(pod));
  for (const bad of parsedHosts.bad) skip(config.hostsAnnotation, bad.value, bad.reason);
  for (const bad of paths.bad) skip(config.pathsAnnotation, bad.value, bad.reason);
  if (!hasHosts) skip(config.hostsAnnotation, '', REASONS.missingHosts);
  if (!hasPaths) skip(config.pathsAnnotation, '', REASONS.missingPaths);
  const hosts = parsedHosts.hosts.filter((host) => {
    const refusal = hostClaims.refusal(namespace, host);
    if (refusal !== undefined) skip(config.hostsAnnotation, host, refusal);
    return refusal === undefined;
  });

  const ip = pod.status?.podIP ?? '';
  const claimedAt = rfc3339(pod.metadata?.creationTimestamp);
  const claimedAtMs = Date.parse(claimedAt);
  const enforcedPorts = inboundEnforcedPorts(pod);
  for (const host of hosts) {
    for (const { port, path } of paths.paths) {
      const id = `${host}${path}`;
      let pool = s.pools.get(id);
      if (pool === undefined) {
        pool = { host, path, claimedAt, claimedAtMs, endpoints: [] };
        s.pools.set(id, pool);
      } else if (claimedAtMs < pool.claimedAtMs) {
        pool.claimedAt = claimedAt;
        pool.claimedAtMs = claimedAtMs;
      }
      if (!pool.endpoints.some((e) => e.ip === ip && e.port === port)) {
        pool.endpoints.push({ ip, port, pod: podName, enforced: enforcedPorts.has(port) });
      }
    }
  }
}
