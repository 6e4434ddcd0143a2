import { PORTS } from '../shared/labels.js';
import type { RouteTableResource } from '../shared/route-table-resource.js';
import type { ClusterReader, KubeItem } from './cluster-reader.js';
import { endNow } from './end-now.js';
import { workstationFlags } from './workstation-flags.js';
import { isInjected } from './pod-checks.js';
import { formatStatusTable, syncState, type ReadyAnswer, type StatusRow } from './proxy-status.js';
import { networkReason } from './reachability.js';

const USAGE = `usage: detour status [--output text|json] [--kubeconfig FILE] [--context NAME]

One row per injected pod: its proxy's version, its table version, and whether that
table is built from the latest RouteTables of its plane (like istioctl proxy-status).
Read from each proxy's admin /ready through the API server (pods/proxy subresource),
so it needs RBAC get on pods/proxy. A pod that does not answer is shown as such.
`;

/** Proxies asked at once: a big mesh must not open thousands of API-server streams. */
const CONCURRENCY = 8;

/**
 * GET /ready on the admin port through the API server, which dials the pod itself.
 * https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls
 */
async function askProxy(
  reader: ClusterReader,
  pod: KubeItem,
  tables: readonly RouteTableResource[],
): Promise<StatusRow> {
  const namespace = pod.metadata.namespace ?? '';
  const name = pod.metadata.name;
  const row = { namespace, pod: name, proxyVersion: null, tableVersion: null, inSync: null };
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  if (phase !== 'Running')
    return { ...row, state: 'no answer', detail: `pod is ${phase ?? 'unknown'}` };
  let answer: ReadyAnswer;
  try {
    const raw = await reader.raw(
      `/api/v1/namespaces/${namespace}/pods/${name}:${PORTS.admin}/proxy/ready`,
    );
    const body = JSON.parse(raw.text) as Partial<ReadyAnswer> & { kind?: string; message?: string };
    if (body.kind === 'Status' || typeof body.status !== 'string') {
      // The API server's own error (it could not reach the pod), not the proxy's answer.
      return { ...row, state: 'no answer', detail: body.message ?? `HTTP ${raw.status}` };
    }
    answer = body as ReadyAnswer;
  } catch (err) {
    return { ...row, state: 'no answer', detail: networkReason(err) };
  }
  const known = {
    namespace,
    pod: name,
    proxyVersion: answer.proxyVersion ?? null,
    tableVersion: answer.tableVersion ?? null,
  };
  if (answer.status !== 'ready')
    return { ...known, inSync: null, state: 'not ready', detail: answer.status };
  return { ...known, ...syncState(answer, tables), state: 'ready' };
}

export async function proxyStatus(reader: ClusterReader): Promise<StatusRow[]> {
  const [pods, tables] = await Promise.all([
    reader.list('/api/v1/pods'),
    reader.list<RouteTableResource>('/apis/detour.dev/v1alpha1/routetables'),
  ]);
  const injected = pods
    .filter(isInjected)
    .sort(
      (a, b) =>
        (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
  const rows: StatusRow[] = new Array<StatusRow>(injected.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < injected.length; i = next++) {
      const pod = injected[i];
      if (pod !== undefined) rows[i] = await askProxy(reader, pod, tables);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, injected.length) }, worker));
  return rows;
}

export async function run(argv: string[]): Promise<number> {
  const flags = workstationFlags(argv, USAGE);
  if (flags === undefined) return 0;
  let rows: StatusRow[];
  try {
    rows = await proxyStatus(flags.reader);
  } catch (err) {
    process.stderr.write(`detour status: ${flags.reader.server}: ${networkReason(err)}\n`);
    endNow(1);
  }
  process.stdout.write(
    flags.output === 'json'
      ? JSON.stringify({ pods: rows }, null, 2) + '\n'
      : formatStatusTable(rows),
  );
  return 0;
}
