import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { PlaneConfig } from './plane-config.js';
import { PLANE_LABEL } from './labels.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_KIND,
  routeTableName,
  type RouteConflict,
  type RouteEndpoint,
  type RouteSpec,
  type RouteTableResource,
  type SkippedEntry,
} from './route-table-resource.js';
import { REASONS, parseHosts, parsePaths, splitEntries } from './routing-annotations.js';
import { declaredPorts, isEligiblePod } from './pod-eligibility.js';
import { apiKeyDigests } from './api-key-digest.js';
import { compareText } from './compare-text.js';

/**
 * The compiler: routable Pods and API-key Secrets in, one RouteTable per namespace out.
 * Pure and deterministic (same objects, in any order => deep-equal output), so the
 * controller's replicas agree without a leader, and the file source, the demo and the
 * tests run exactly the production path.
 *
 * The rules are the seed router's (README "Routing rules"):
 * 1. eligible pods: the plane's routable labels, Running, Ready, an IP, not terminating;
 * 2. every host of the hosts annotation x every `PORT:PATH` of the paths annotation is a
 *    route to `podIP:PORT`; a bad entry is skipped and recorded, the rest still route;
 * 3. pods of one namespace claiming one host+path form one pool;
 * 4. namespaces claiming one host+path: the oldest claim (its oldest pod) wins, ties by
 *    namespace name; the loser's route is dropped and the conflict recorded in both tables;
 * 5. the Secret `apiKeySecretName` of the namespace, when it holds `apiKeySecretField`,
 *    protects all the namespace's routes (digests only, see api-key-digest.ts).
 */

export interface CompileInput {
  pods: readonly V1Pod[];
  secrets: readonly V1Secret[];
}

/** Kubernetes' default namespace for an object that names none (as kubectl applies it). */
const DEFAULT_NAMESPACE = 'default';
/** A pod without creationTimestamp (hand-written YAML) claims as of the epoch. */
const EPOCH = '1970-01-01T00:00:00Z';

interface Pool {
  host: string;
  path: string;
  claimedAt: string;
  claimedAtMs: number;
  endpoints: RouteEndpoint[];
}

interface NamespaceState {
  pools: Map<string, Pool>;
  skipped: SkippedEntry[];
  conflicts: RouteConflict[];
}

export function compile(input: CompileInput, config: PlaneConfig): RouteTableResource[] {
  const namespaces = new Map<string, NamespaceState>();
  const state = (namespace: string): NamespaceState => {
    let s = namespaces.get(namespace);
    if (s === undefined) {
      s = { pools: new Map(), skipped: [], conflicts: [] };
      namespaces.set(namespace, s);
    }
    return s;
  };

  for (const pod of latestByKey(input.pods)) {
    if (!isEligiblePod(pod, config.routableLabels)) continue;
    addPod(pod, config, state);
  }
  resolveConflicts(namespaces);

  const secrets = new Map(latestByKey(input.secrets).map((s) => [objectKey(s), s]));
  const tables: RouteTableResource[] = [];
  for (const namespace of [...namespaces.keys()].sort(compareText)) {
    const s = namespaces.get(namespace);
    if (s === undefined) continue;
    if (s.pools.size === 0 && s.skipped.length === 0 && s.conflicts.length === 0) continue;
    const secret = secrets.get(`${namespace}/${config.apiKeySecretName}`);
    tables.push(toResource(namespace, s, apiKeyDigests(secret, config.apiKeySecretField), config));
  }
  return tables;
}

function addPod(
  pod: V1Pod,
  config: PlaneConfig,
  state: (namespace: string) => NamespaceState,
): void {
  const annotations = pod.metadata?.annotations ?? {};
  const hostsValue = annotations[config.hostsAnnotation];
  const pathsValue = annotations[config.pathsAnnotation];
  const hasHosts = splitEntries(hostsValue).length > 0;
  const hasPaths = splitEntries(pathsValue).length > 0;
  if (!hasHosts && !hasPaths) return;

  const namespace = namespaceOf(pod);
  const podName = pod.metadata?.name ?? '';
  const s = state(namespace);
  const skip = (annotation: string, value: string, reason: string): void => {
    s.skipped.push({ namespace, pod: podName, annotation, value, reason });
  };

  const hosts = parseHosts(hostsValue);
  const paths = parsePaths(pathsValue, declaredPorts(pod));
  for (const bad of hosts.bad) skip(config.hostsAnnotation, bad.value, bad.reason);
  for (const bad of paths.bad) skip(config.pathsAnnotation, bad.value, bad.reason);
  if (!hasHosts) skip(config.hostsAnnotation, '', REASONS.missingHosts);
  if (!hasPaths) skip(config.pathsAnnotation, '', REASONS.missingPaths);

  const ip = pod.status?.podIP ?? '';
  const claimedAt = rfc3339(pod.metadata?.creationTimestamp);
  const claimedAtMs = Date.parse(claimedAt);
  for (const host of hosts.hosts) {
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
        pool.endpoints.push({ ip, port, pod: podName });
      }
    }
  }
}

function resolveConflicts(namespaces: Map<string, NamespaceState>): void {
  const claims = new Map<string, { namespace: string; pool: Pool }[]>();
  for (const [namespace, s] of namespaces) {
    for (const [id, pool] of s.pools) {
      const list = claims.get(id) ?? [];
      list.push({ namespace, pool });
      claims.set(id, list);
    }
  }
  for (const [id, list] of claims) {
    if (list.length < 2) continue;
    list.sort(
      (a, b) => a.pool.claimedAtMs - b.pool.claimedAtMs || compareText(a.namespace, b.namespace),
    );
    const [winner, ...losers] = list;
    if (winner === undefined) continue;
    for (const loser of losers) {
      const conflict: RouteConflict = {
        host: loser.pool.host,
        path: loser.pool.path,
        winner: winner.namespace,
        loser: loser.namespace,
      };
      namespaces.get(winner.namespace)?.conflicts.push(conflict);
      const loserState = namespaces.get(loser.namespace);
      loserState?.conflicts.push(conflict);
      loserState?.pools.delete(id);
    }
  }
}

function toResource(
  namespace: string,
  s: NamespaceState,
  apiKeySha256: string[],
  config: PlaneConfig,
): RouteTableResource {
  const routes: RouteSpec[] = [...s.pools.values()]
    .sort((a, b) => compareText(a.host, b.host) || compareText(a.path, b.path))
    .map((pool) => ({
      host: pool.host,
      path: pool.path,
      claimedAt: pool.claimedAt,
      endpoints: [...pool.endpoints].sort(
        (a, b) => compareText(a.pod, b.pod) || compareText(a.ip, b.ip) || a.port - b.port,
      ),
    }));
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
      ...(apiKeySha256.length > 0 ? { apiKeySha256 } : {}),
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

interface Keyed {
  metadata?: { name?: string; namespace?: string };
}

function namespaceOf(object: Keyed): string {
  const namespace = object.metadata?.namespace;
  return namespace === undefined || namespace === '' ? DEFAULT_NAMESPACE : namespace;
}

/** Objects are keyed by namespace/name (names repeat across namespaces). */
function objectKey(object: Keyed): string {
  return `${namespaceOf(object)}/${object.metadata?.name ?? ''}`;
}

/** One object per key (the later wins, as a later watch event does), sorted by key. */
function latestByKey<T extends Keyed>(objects: readonly T[]): T[] {
  const byKey = new Map<string, T>();
  for (const object of objects) byKey.set(objectKey(object), object);
  return [...byKey.entries()].sort(([a], [b]) => compareText(a, b)).map(([, o]) => o);
}

/**
 * RFC 3339 in Kubernetes' form (seconds, `Z`) from a client-node `Date` or a YAML string;
 * a missing or unreadable time counts as the epoch, so the output stays deterministic.
 */
export function rfc3339(time: Date | string | undefined | null): string {
  if (time === undefined || time === null) return EPOCH;
  const ms = time instanceof Date ? time.getTime() : Date.parse(time);
  if (Number.isNaN(ms)) return EPOCH;
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}
