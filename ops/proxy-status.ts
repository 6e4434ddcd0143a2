import { PLANE_LABEL } from '../shared/labels.js';
import type { RouteTableResource } from '../shared/route-table-resource.js';

/** A RouteTable a proxy's table was built from, as its `/ready` reports it. */
export interface TableRef {
  namespace: string;
  name: string;
  plane: string;
  resourceVersion: string;
}

/** What a proxy's admin `/ready` answers (sidecar/admin-server.ts). */
export interface ReadyAnswer {
  status: string;
  proxyVersion?: string;
  tableVersion?: number;
  routeTables?: TableRef[];
}

export interface StatusRow {
  namespace: string;
  pod: string;
  /** null when the proxy did not answer (or is older than the field). */
  proxyVersion: string | null;
  tableVersion: number | null;
  /** null when it cannot be told: the proxy did not answer or is not ready. */
  inSync: boolean | null;
  state: 'ready' | 'not ready' | 'no answer';
  /** Why not ready or no answer; which tables differ when out of sync. */
  detail?: string;
}

function refKey(r: { namespace: string; name: string; resourceVersion: string }): string {
  return `${r.namespace}/${r.name}@${r.resourceVersion}`;
}

/**
 * In sync: the proxy's table was built from exactly the RouteTables of its plane that
 * the API server holds now, at their current resourceVersions. A proxy that reports no
 * table is taken to be of the private plane (the sidecar's).
 */
export function syncState(
  answer: ReadyAnswer,
  tables: readonly RouteTableResource[],
): { inSync: boolean; detail?: string } {
  const refs = answer.routeTables ?? [];
  const plane = refs[0]?.plane ?? 'private';
  const latest = new Set(
    tables
      .filter((t) => (t.metadata.labels?.[PLANE_LABEL] ?? t.spec.plane) === plane)
      .map((t) =>
        refKey({
          namespace: t.metadata.namespace,
          name: t.metadata.name,
          resourceVersion: t.metadata.resourceVersion ?? '',
        }),
      ),
  );
  const held = new Set(refs.map(refKey));
  const behind = [...latest].filter((k) => !held.has(k));
  const gone = [...held].filter((k) => !latest.has(k));
  if (behind.length === 0 && gone.length === 0) return { inSync: true };
  const parts = [
    ...(behind.length > 0 ? [`missing ${behind.join(', ')}`] : []),
    ...(gone.length > 0 ? [`outdated ${gone.join(', ')}`] : []),
  ];
  return { inSync: false, detail: parts.join('; ') };
}

export function formatStatusTable(rows: readonly StatusRow[]): string {
  const header = ['NAMESPACE', 'POD', 'PROXY', 'TABLE', 'SYNCED'];
  const cells = rows.map((r) => [
    r.namespace,
    r.pod,
    r.proxyVersion ?? '-',
    r.tableVersion === null ? '-' : String(r.tableVersion),
    r.state === 'ready'
      ? r.inSync === true
        ? 'yes'
        : `no: ${r.detail ?? ''}`
      : `${r.state}${r.detail === undefined ? '' : `: ${r.detail}`}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]): string =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  if (rows.length === 0) return 'no injected pods\n';
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}
