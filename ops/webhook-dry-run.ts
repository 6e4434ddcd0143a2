import { randomBytes } from 'node:crypto';
import { errorMessage } from '../shared/errors.js';
import { CONTAINER_NAMES, INJECTION_LABEL } from '../shared/labels.js';
import { fail, pass, skip, type CheckLine } from './check-report.js';
import type { ClusterReader } from './cluster-reader.js';

const GROUP = 'webhook';

interface PodShape {
  spec?: { containers?: { name: string }[]; initContainers?: { name: string }[] };
}

/**
 * A server-side dry-run pod create in a labelled namespace: the API server runs
 * admission for real (it calls the webhook through its Service and verifies the TLS
 * answer with the MWC's caBundle) and stores nothing. The error it returns names what
 * failed: no endpoint, an unknown certificate authority, a refusal.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run
 */
export async function checkDryRunInjection(reader: ClusterReader): Promise<CheckLine> {
  const description = 'the API server calls the webhook and the sidecar is injected';
  const [namespace] = await reader.list('/api/v1/namespaces', {
    labelSelector: `${INJECTION_LABEL}=enabled`,
  });
  if (namespace === undefined) {
    return skip(GROUP, description, `no namespace is labelled ${INJECTION_LABEL}=enabled`);
  }
  const ns = namespace.metadata.name;
  const name = `detour-check-${randomBytes(3).toString('hex')}`;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/name': 'detour-check' } },
    spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
  };
  let created: PodShape;
  try {
    created = (await reader.post(`/api/v1/namespaces/${ns}/pods`, pod, {
      dryRun: 'All',
    })) as PodShape;
  } catch (err) {
    return fail(GROUP, description, {
      detail: `a dry-run pod create in ${ns} failed: ${errorMessage(err)}`,
      hint: 'check the caBundle and the webhook logs: a certificate error means the caBundle does not verify the serving certificate',
      culprit: `${ns}/${name}`,
    });
  }
  const names = [...(created.spec?.initContainers ?? []), ...(created.spec?.containers ?? [])].map(
    (c) => c.name,
  );
  if (names.includes(CONTAINER_NAMES.proxy)) return pass(GROUP, description);
  return fail(GROUP, description, {
    detail: `a dry-run pod create in ${ns} came back without ${CONTAINER_NAMES.proxy}`,
    hint: 'the MutatingWebhookConfiguration does not select the namespace, or the webhook skipped the pod: kubectl get mutatingwebhookconfiguration detour -o yaml',
    culprit: ns,
  });
}
