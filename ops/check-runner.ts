import { errorMessage } from '../shared/errors.js';
import { KubeApiError } from '../shared/kube/kube-request.js';
import { INJECTION_LABEL } from '../shared/labels.js';
import type { RouteTableResource } from '../shared/route-table-resource.js';
import { fail, pass, type CheckLine } from './check-report.js';
import type { ClusterReader } from './cluster-reader.js';
import {
  checkCaBundles,
  checkCrds,
  checkDeployment,
  checkEndpoints,
  readWebhooks,
} from './install-checks.js';
import { INSTALL } from './install-names.js';
import { checkProxyImages, checkUninjected } from './pod-checks.js';
import {
  checkPermissions,
  checkPodSecurity,
  checkVersion,
  type ServerVersion,
} from './pre-checks.js';
import { checkFreshness, checkTableStatus } from './route-table-checks.js';
import { reachability } from './reachability.js';
import { checkReplicaCertificates } from './replica-certificates.js';
import { checkDryRunInjection } from './webhook-dry-run.js';

export const API_GROUP = 'kubernetes-api';

/** A check that throws becomes one failed line; the others still run. */
async function guard(
  group: string,
  description: string,
  run: () => Promise<CheckLine[]>,
): Promise<CheckLine[]> {
  try {
    return await run();
  } catch (err) {
    return [
      fail(group, description, {
        detail: errorMessage(err),
        hint: 'kubectl auth can-i --list, and the API server is healthy',
      }),
    ];
  }
}

export interface CheckRun {
  lines: CheckLine[];
  /** False when the API server did not answer at all: nothing else was checked. */
  reached: boolean;
}

/**
 * `detour check`: the API server first (nothing else can run without it), then the
 * pre-install checks (`--pre`) or the installed control plane and data plane.
 */
export async function runChecks(reader: ClusterReader, pre: boolean): Promise<CheckRun> {
  let version: ServerVersion;
  try {
    version = (await reader.get('/version')) as ServerVersion;
  } catch (err) {
    return { reached: false, lines: [reachability(reader.server, err)] };
  }
  const lines: CheckLine[] = [
    pass(API_GROUP, `can reach the Kubernetes API server (${version.gitVersion})`),
    checkVersion(version),
  ];
  if (pre) {
    lines.push(
      ...(await guard('pre-install permissions', 'can check permissions', () =>
        checkPermissions(reader),
      )),
      ...(await guard('pod security', 'can read namespaces', () => checkPodSecurity(reader))),
    );
    return { reached: true, lines };
  }
  lines.push(...(await guard('control plane', 'can read CRDs', () => checkCrds(reader))));
  const controlPlane = await checkDeployment(reader);
  lines.push(...controlPlane.lines);
  lines.push(
    ...(await guard('webhook', 'the MutatingWebhookConfiguration exists', () =>
      webhookChecks(reader),
    )),
  );
  lines.push(
    ...(await guard('pod security', 'can read namespaces', () => checkPodSecurity(reader))),
  );
  lines.push(
    ...(await guard('route tables', 'can read RouteTables', () => routeTableChecks(reader))),
  );
  lines.push(
    ...(await guard('data plane', 'can read pods', () =>
      podChecks(reader, controlPlane.proxyImage),
    )),
  );
  return { reached: true, lines };
}

async function webhookChecks(reader: ClusterReader): Promise<CheckLine[]> {
  const name = INSTALL.mutatingWebhookConfiguration;
  let webhooks;
  try {
    webhooks = await readWebhooks(reader);
  } catch (err) {
    if (!(err instanceof KubeApiError) || err.statusCode !== 404) throw err;
    return [
      fail('webhook', `the MutatingWebhookConfiguration ${name} exists`, {
        detail: 'not found: no pod is injected',
        hint: 'kubectl apply -k manifests/base',
        culprit: `mutatingwebhookconfiguration/${name}`,
      }),
    ];
  }
  return [
    pass(
      'webhook',
      `the MutatingWebhookConfiguration ${INSTALL.mutatingWebhookConfiguration} exists`,
    ),
    ...(await checkEndpoints(reader, webhooks)),
    ...checkCaBundles(webhooks),
    ...(await checkReplicaCertificates(reader, webhooks)),
    await checkDryRunInjection(reader),
  ];
}

async function routeTableChecks(reader: ClusterReader): Promise<CheckLine[]> {
  const [tables, pods] = await Promise.all([
    reader.list<RouteTableResource>('/apis/detour.dev/v1alpha1/routetables'),
    reader.list('/api/v1/pods'),
  ]);
  return [...checkFreshness(pods, tables), ...checkTableStatus(tables)];
}

async function podChecks(
  reader: ClusterReader,
  proxyImage: string | undefined,
): Promise<CheckLine[]> {
  const [namespaces, pods] = await Promise.all([
    reader.list('/api/v1/namespaces', { labelSelector: `${INJECTION_LABEL}=enabled` }),
    reader.list('/api/v1/pods'),
  ]);
  const labelled = new Set(namespaces.map((n) => n.metadata.name));
  return [
    ...checkUninjected(pods, labelled),
    ...(proxyImage === undefined ? [] : checkProxyImages(pods, proxyImage)),
  ];
}
