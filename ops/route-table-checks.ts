import { loadPlaneConfig } from '../shared/plane-config.js';
import { PLANE_LABEL } from '../shared/labels.js';
import type { RouteTableResource } from '../shared/route-table-resource.js';
import { fail, pass, type CheckLine } from './check-report.js';
import type { KubeItem } from './cluster-reader.js';

const GROUP = 'route tables';

/**
 * How long a Ready routable pod may wait for the controller: it debounces and writes
 * within seconds, so a minute without the pod in its table means it stopped writing.
 */
export const STALE_AFTER_MS = 60_000;

interface PodStatus {
  phase?: string;
  podIP?: string;
  conditions?: { type?: string; status?: string; lastTransitionTime?: string }[];
}

function readySince(pod: KubeItem): number | undefined {
  const status = pod.status as PodStatus | undefined;
  if (status?.phase !== 'Running') return undefined;
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return undefined;
  return Date.parse(ready.lastTransitionTime ?? pod.metadata.creationTimestamp ?? '');
}

/** The table accounts for the pod: one of its endpoints, a skipped entry or a lost claim. */
function tableKnows(table: RouteTableResource | undefined, pod: KubeItem): boolean {
  if (table === undefined) return false;
  const name = pod.metadata.name;
  const ip = (pod.status as PodStatus | undefined)?.podIP;
  return (
    table.spec.routes.some((r) => r.endpoints.some((e) => e.pod === name || e.ip === ip)) ||
    (table.status?.skipped ?? []).some((s) => s.pod === name) ||
    (table.status?.conflicts ?? []).some((c) => c.loser === table.metadata.namespace)
  );
}

/**
 * The controller writes only on change, so an old table is not a stale one; a Ready
 * routable pod that its namespace's table has not heard of for a minute is.
 */
export function checkFreshness(
  pods: readonly KubeItem[],
  tables: readonly RouteTableResource[],
  now = Date.now(),
): CheckLine[] {
  const config = loadPlaneConfig('private');
  const description = `the controller wrote every routable pod into its RouteTable (${config.plane} plane)`;
  const byNamespace = new Map(
    tables
      .filter((t) => t.metadata.labels?.[PLANE_LABEL] === config.plane)
      .map((t) => [t.metadata.namespace, t]),
  );
  const routable = pods.filter(
    (p) =>
      Object.entries(config.routableLabels).every(([k, v]) => p.metadata.labels?.[k] === v) &&
      (p.metadata.annotations?.[config.hostsAnnotation] ?? '').trim() !== '',
  );
  const stale: CheckLine[] = [];
  for (const pod of routable) {
    const since = readySince(pod);
    if (since === undefined || now - since < STALE_AFTER_MS) continue;
    const ns = pod.metadata.namespace ?? '';
    const table = byNamespace.get(ns);
    if (tableKnows(table, pod)) continue;
    const seconds = Math.round((now - since) / 1000);
    stale.push(
      fail(GROUP, description, {
        detail:
          table === undefined
            ? `no RouteTable in ${ns}, though the pod has been Ready for ${seconds} s`
            : `RouteTable ${ns}/${table.metadata.name} does not name the pod, Ready for ${seconds} s`,
        hint: 'is the controller running? kubectl -n detour-system logs deployment/detour -c controller',
        culprit: `${ns}/${pod.metadata.name}`,
      }),
    );
  }
  return stale.length === 0 ? [pass(GROUP, description)] : stale;
}

/** Conflicts and skipped entries (refused host claims among them), from the tables' status. */
export function checkTableStatus(tables: readonly RouteTableResource[]): CheckLine[] {
  const conflicts: CheckLine[] = [];
  const skipped: CheckLine[] = [];
  for (const table of tables) {
    for (const c of table.status?.conflicts ?? []) {
      conflicts.push(
        fail(GROUP, 'no two namespaces claim the same host and path', {
          detail: `${c.host}${c.path} is served by ${c.winner}; the claim of ${c.loser} is dropped`,
          hint: `remove the claim from the pods of ${c.loser}, or from ${c.winner}`,
          culprit: c.loser,
        }),
      );
    }
    for (const s of table.status?.skipped ?? []) {
      skipped.push(
        fail(GROUP, 'every routing entry is accepted', {
          detail: `${s.annotation}: ${JSON.stringify(s.value)}: ${s.reason}`,
          hint: 'fix the annotation, or grant the host with a HostGrant (kubectl explain hostgrant.spec)',
          culprit: `${s.namespace}/${s.pod}`,
        }),
      );
    }
  }
  return [
    ...(conflicts.length === 0
      ? [pass(GROUP, 'no two namespaces claim the same host and path')]
      : dedupe(conflicts)),
    ...(skipped.length === 0 ? [pass(GROUP, 'every routing entry is accepted')] : skipped),
  ];
}

/** Both namespaces' tables report the same conflict. */
function dedupe(lines: CheckLine[]): CheckLine[] {
  const seen = new Set<string>();
  return lines.filter((l) => {
    const key = `${l.culprit ?? ''} ${l.detail ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
