import type { RouteTableJSON } from './route-table.js';

/** What admin `GET /routes` serves: the table plus the proxy's source and readiness. */
export type RoutesDocument = RouteTableJSON & { source?: string; ready?: boolean };

/**
 * `detour routes` for people: one line per route (host, path, namespace, API key, where
 * it is enforced, its ApiPolicy, endpoints), then the skipped entries and conflicts, which are the usual answer to
 * "why does my route not work".
 */
export function formatRouteTable(doc: RoutesDocument): string {
  const head = [
    doc.source === undefined ? undefined : `source ${doc.source}`,
    `table v${doc.version}`,
    `${doc.routeCount} route(s)`,
    doc.ready === undefined ? undefined : doc.ready ? 'ready' : 'NOT READY',
  ].filter((part) => part !== undefined);
  const lines = [head.join(', ')];

  if (doc.routes.length > 0) {
    const rows = doc.routes.map((r) => [
      r.host,
      r.path,
      r.namespace,
      r.apiKeyRequired ? 'yes' : 'no',
      r.enforcedAt,
      r.policy?.name ?? '-',
      r.endpoints.length === 0
        ? '(none: 503)'
        : r.endpoints.map((e) => `${e.key} (${e.pod})`).join(', '),
    ]);
    lines.push(
      '',
      ...table(
        ['HOST', 'PATH', 'NAMESPACE', 'API KEY', 'ENFORCED AT', 'POLICY', 'ENDPOINTS'],
        rows,
      ),
    );
  }
  if (doc.skipped.length > 0) {
    lines.push('', `skipped entries (${doc.skipped.length}):`);
    for (const s of doc.skipped) {
      const value = s.value === '' ? '' : ` ${JSON.stringify(s.value)}`;
      lines.push(`  ${s.namespace}/${s.pod} ${s.annotation}${value}: ${s.reason}`);
    }
  }
  if (doc.conflicts.length > 0) {
    lines.push('', `conflicts (${doc.conflicts.length}), the oldest claim wins:`);
    for (const c of doc.conflicts) {
      lines.push(`  ${c.host}${c.path}: ${c.winner} wins over ${c.loser}`);
    }
  }
  return lines.join('\n') + '\n';
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
