/**
 * The mutating-admission step of a Pod CREATE: every matching webhook of every
 * MutatingWebhookConfiguration (in name order) gets an AdmissionReview v1 over TLS
 * verified with its `caBundle`, and its JSONPatch is applied before the next one.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
 */
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { ApiError } from './status.js';
import type { KubeObject } from './resources.js';

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { namespace: string; name: string; path?: string; port?: number };
  };
  rules?: {
    operations?: string[];
    apiGroups?: string[];
    apiVersions?: string[];
    resources?: string[];
  }[];
  failurePolicy?: 'Fail' | 'Ignore';
  namespaceSelector?: LabelSelectorObject;
  objectSelector?: LabelSelectorObject;
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
}

/** Where `service` clientConfigs point: there is no cluster DNS in a test. */
export type ServiceResolver = (
  namespace: string,
  name: string,
  port: number,
) => { host: string; port: number };

export function matchesSelector(
  selector: LabelSelectorObject | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  return (selector.matchExpressions ?? []).every((e) => {
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        return value !== undefined && (e.values ?? []).includes(value);
      case 'NotIn':
        return value === undefined || !(e.values ?? []).includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      default:
        return false;
    }
  });
}

function ruleMatches(webhook: Webhook): boolean {
  const has = (list: string[] | undefined, value: string): boolean =>
    list !== undefined && (list.includes('*') || list.includes(value));
  return (webhook.rules ?? []).some(
    (r) =>
      has(r.operations, 'CREATE') &&
      has(r.apiGroups, '') &&
      has(r.apiVersions, 'v1') &&
      has(r.resources, 'pods'),
  );
}

function post(
  webhook: Webhook,
  body: string,
  resolveService: ServiceResolver,
): Promise<{ status: number; text: string }> {
  const { url, service, caBundle } = webhook.clientConfig;
  let target: URL;
  let servername: string;
  let connectTo: { host: string; port: number };
  if (url !== undefined) {
    target = new URL(url);
    servername = target.hostname;
    connectTo = { host: target.hostname, port: Number(target.port || 443) };
  } else if (service !== undefined) {
    servername = `${service.name}.${service.namespace}.svc`;
    target = new URL(`https://${servername}:${service.port ?? 443}${service.path ?? '/'}`);
    connectTo = resolveService(service.namespace, service.name, service.port ?? 443);
  } else {
    return Promise.reject(new Error('clientConfig has neither url nor service'));
  }
  const ca = caBundle === undefined ? undefined : Buffer.from(caBundle, 'base64');
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: connectTo.host,
        port: connectTo.port,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        servername: /^[\d.]+$/.test(servername) ? undefined : servername,
        headers: { 'content-type': 'application/json', host: target.host },
        ...(ca === undefined ? {} : { ca }),
        timeout: (webhook.timeoutSeconds ?? 10) * 1000,
        // A certificate issued for the service name must verify against that name, not
        // against the loopback address the resolver returned.
        checkServerIdentity: (_host, cert) =>
          https.globalAgent.options.checkServerIdentity?.(servername, cert) ?? undefined,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('webhook call timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

interface ReviewResponse {
  uid?: string;
  allowed?: boolean;
  patch?: string;
  patchType?: string;
  status?: { code?: number; message?: string };
}

async function callWebhook(
  webhook: Webhook,
  pod: KubeObject,
  namespace: string,
  resolveService: ServiceResolver,
): Promise<KubeObject> {
  const uid = randomUUID();
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: pod.metadata.name ?? '',
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
  const { status, text } = await post(webhook, JSON.stringify(review), resolveService);
  if (status !== 200) throw new Error(`webhook answered HTTP ${status}`);
  const response = (JSON.parse(text) as { response?: ReviewResponse }).response;
  if (response?.uid !== uid) throw new Error('webhook response uid does not match the request');
  if (response.allowed !== true) {
    const code = Math.max(response.status?.code ?? 400, 400);
    throw new ApiError(
      'BadRequest',
      `admission webhook "${webhook.name}" denied the request: ${response.status?.message ?? 'without explanation'}`,
      {},
      code,
    );
  }
  if (response.patch === undefined) return pod;
  if (response.patchType !== 'JSONPatch') throw new Error('unsupported patchType');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  return fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
}

export interface AdmissionContext {
  configurations: readonly KubeObject[];
  namespaceLabels: Readonly<Record<string, string>>;
  resolveService: ServiceResolver;
  onCall: () => void;
}

export async function admitPodCreate(
  pod: KubeObject,
  namespace: string,
  context: AdmissionContext,
): Promise<KubeObject> {
  let current = pod;
  const sorted = [...context.configurations].sort((a, b) =>
    (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  );
  for (const config of sorted) {
    for (const webhook of (config.webhooks ?? []) as Webhook[]) {
      if (!ruleMatches(webhook)) continue;
      if (!matchesSelector(webhook.namespaceSelector, context.namespaceLabels)) continue;
      if (!matchesSelector(webhook.objectSelector, current.metadata.labels ?? {})) continue;
      context.onCall();
      try {
        current = await callWebhook(webhook, current, namespace, context.resolveService);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (webhook.failurePolicy === 'Ignore') continue;
        throw new ApiError(
          'InternalError',
          `Internal error occurred: failed calling webhook "${webhook.name}": ${(err as Error).message}`,
        );
      }
    }
  }
  return current;
}
