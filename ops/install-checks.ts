import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../shared/errors.js';
import { KubeApiError } from '../shared/kube/kube-request.js';
import { fail, pass, skip, type CheckLine } from './check-report.js';
import type { ClusterReader, KubeItem } from './cluster-reader.js';
import { readyEndpoints } from './endpoint-slices.js';
import { INSTALL } from './install-names.js';

const CONTROL_PLANE = 'control plane';

function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.statusCode === 404;
}

interface Condition {
  type?: string;
  status?: string;
  message?: string;
}

/**
 * A CRD serves its kind once its `Established` condition is True.
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#create-a-customresourcedefinition
 */
async function checkCrd(
  reader: ClusterReader,
  name: string,
  optional: boolean,
): Promise<CheckLine> {
  const description = `CRD ${name} is established`;
  let crd: KubeItem;
  try {
    crd = (await reader.get(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
    )) as KubeItem;
  } catch (err) {
    if (optional && isNotFound(err)) return skip(CONTROL_PLANE, description, 'not installed');
    return fail(CONTROL_PLANE, description, {
      detail: isNotFound(err) ? 'not found' : errorMessage(err),
      hint: 'kubectl apply -k manifests/base',
      culprit: name,
    });
  }
  const conditions = (crd.status?.conditions ?? []) as Condition[];
  const established = conditions.find((c) => c.type === 'Established');
  if (established?.status === 'True') return pass(CONTROL_PLANE, description);
  return fail(CONTROL_PLANE, description, {
    detail: `Established is ${established?.status ?? 'missing'}${established?.message ? `: ${established.message}` : ''}`,
    hint: `kubectl describe crd ${name}`,
    culprit: name,
  });
}

export async function checkCrds(reader: ClusterReader): Promise<CheckLine[]> {
  return Promise.all([
    ...INSTALL.crds.map((name) => checkCrd(reader, name, false)),
    ...INSTALL.optionalCrds.map((name) => checkCrd(reader, name, true)),
  ]);
}

interface DeploymentShape {
  metadata: { generation?: number };
  spec?: {
    replicas?: number;
    template?: {
      spec?: {
        containers?: { name: string; image?: string; env?: { name: string; value?: string }[] }[];
      };
    };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
  };
}

function rollout(d: DeploymentShape): { ready: number; updated: number; observed: boolean } {
  const status = d.status ?? {};
  return {
    ready: status.readyReplicas ?? 0,
    updated: status.updatedReplicas ?? 0,
    observed: (status.observedGeneration ?? 0) >= (d.metadata.generation ?? 0),
  };
}

/** What the webhook injects: its DETOUR_PROXY_IMAGE, else its own image. */
function proxyImageOf(d: DeploymentShape): string | undefined {
  const webhook = d.spec?.template?.spec?.containers?.find(
    (c) => c.name === INSTALL.webhookContainer,
  );
  return webhook?.env?.find((e) => e.name === INSTALL.proxyImageEnv)?.value ?? webhook?.image;
}

export interface ControlPlane {
  lines: CheckLine[];
  /** The image the webhook injects, when the Deployment was found. */
  proxyImage?: string;
}

/**
 * Ready as `kubectl rollout status` counts it: the latest spec observed, every
 * replica updated and ready.
 * https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status
 */
export async function checkDeployment(reader: ClusterReader): Promise<ControlPlane> {
  const culprit = `${INSTALL.namespace}/${INSTALL.deployment}`;
  const description = `the control plane Deployment ${culprit} is ready`;
  let deployment: DeploymentShape;
  try {
    deployment = (await reader.get(
      `/apis/apps/v1/namespaces/${INSTALL.namespace}/deployments/${INSTALL.deployment}`,
    )) as DeploymentShape;
  } catch (err) {
    return {
      lines: [
        fail(CONTROL_PLANE, description, {
          detail: isNotFound(err) ? 'not found' : errorMessage(err),
          hint: 'kubectl apply -k manifests/base',
          culprit,
        }),
      ],
    };
  }
  const want = deployment.spec?.replicas ?? 1;
  const { ready, updated, observed } = rollout(deployment);
  const proxyImage = proxyImageOf(deployment);
  const image = proxyImage === undefined ? {} : { proxyImage };
  if (observed && ready >= want && updated >= want) {
    return { lines: [pass(CONTROL_PLANE, description)], ...image };
  }
  return {
    lines: [
      fail(CONTROL_PLANE, description, {
        detail: `${ready}/${want} replicas ready, ${updated}/${want} updated`,
        hint: `kubectl -n ${INSTALL.namespace} describe deployment ${INSTALL.deployment}; kubectl -n ${INSTALL.namespace} logs deployment/${INSTALL.deployment} -c webhook`,
        culprit,
      }),
    ],
    ...image,
  };
}

export interface WebhookShape {
  name: string;
  clientConfig?: {
    caBundle?: string;
    service?: { name: string; namespace: string };
  };
}

export async function readWebhooks(reader: ClusterReader): Promise<WebhookShape[]> {
  const mwc = (await reader.get(
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${INSTALL.mutatingWebhookConfiguration}`,
  )) as { webhooks?: WebhookShape[] };
  return mwc.webhooks ?? [];
}

/**
 * The API server calls the webhook through its Service: without a ready endpoint,
 * every pod creation in a labelled namespace fails (failurePolicy: Fail).
 * https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/
 */
export async function checkEndpoints(
  reader: ClusterReader,
  webhooks: readonly WebhookShape[],
): Promise<CheckLine[]> {
  const services = new Map<string, { name: string; namespace: string }>();
  for (const w of webhooks) {
    const s = w.clientConfig?.service;
    if (s !== undefined) services.set(`${s.namespace}/${s.name}`, s);
  }
  return Promise.all(
    [...services].map(async ([key, s]) => {
      const description = `the webhook Service ${key} has ready endpoints`;
      const ready = await readyEndpoints(reader, s);
      if (ready.length > 0) return pass(CONTROL_PLANE, description);
      return fail(CONTROL_PLANE, description, {
        detail: 'no ready endpoint: the API server cannot reach the webhook',
        hint: `kubectl -n ${s.namespace} get pods -l app.kubernetes.io/name=detour`,
        culprit: key,
      });
    }),
  );
}

/** Each webhook's caBundle holds at least one parseable certificate. */
export function checkCaBundles(webhooks: readonly WebhookShape[]): CheckLine[] {
  const group = 'webhook';
  return webhooks.map((w) => {
    const description = `${w.name} has a caBundle`;
    const bundle = Buffer.from(w.clientConfig?.caBundle ?? '', 'base64').toString('utf8');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(bundle)?.[0];
    let detail = 'caBundle is empty: the webhook has not patched it yet (or cert-manager has not)';
    if (pem !== undefined) {
      try {
        const cert = new X509Certificate(pem);
        if (new Date(cert.validTo).getTime() > Date.now()) return pass(group, description);
        detail = `the CA certificate expired on ${cert.validTo}`;
      } catch (err) {
        detail = `caBundle holds no valid certificate: ${errorMessage(err)}`;
      }
    }
    return fail(group, description, {
      detail,
      hint: `kubectl -n ${INSTALL.namespace} logs deployment/${INSTALL.deployment} -c webhook | grep caBundle`,
      culprit: `mutatingwebhookconfiguration/${INSTALL.mutatingWebhookConfiguration}`,
    });
  });
}
