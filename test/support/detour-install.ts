/**
 * A detour install in the API-server double, as `kubectl apply -k manifests/base` and a
 * running control plane leave it: CRDs established, the Deployment rolled out, the
 * webhook Service's EndpointSlice, the real MutatingWebhookConfiguration with the
 * caBundle of an in-process webhook the double calls, a labelled namespace, an injected
 * pod and its RouteTable. Tests then break one thing each.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import type { KubeObject } from './api-server/resources.js';
import { ApiServerDouble, type ApiServerDoubleOptions } from './api-server/server.js';
import { REPO_ROOT } from './cli.js';
import type { SelfSignedWebhook } from './self-signed-webhook.js';

export const PROXY_IMAGE = defaultInjectorConfig().image;

export function crd(name: string, established = true): KubeObject {
  return {
    kind: 'CustomResourceDefinition',
    metadata: { name },
    status: {
      conditions: [
        { type: 'NamesAccepted', status: 'True' },
        {
          type: 'Established',
          status: established ? 'True' : 'False',
          ...(established ? {} : { message: 'not all names are accepted' }),
        },
      ],
    },
  };
}

export function deployment(ready: number, image = PROXY_IMAGE): KubeObject {
  return {
    kind: 'Deployment',
    metadata: { name: 'detour', namespace: 'detour-system', generation: 1 },
    spec: {
      replicas: 2,
      template: {
        spec: {
          containers: [
            { name: 'webhook', image, env: [{ name: 'DETOUR_PROXY_IMAGE', value: image }] },
            { name: 'controller', image },
          ],
        },
      },
    },
    status: { observedGeneration: 1, replicas: 2, readyReplicas: ready, updatedReplicas: 2 },
  };
}

/** The webhook Service's EndpointSlice: one endpoint per control-plane replica pod. */
export function endpointSlice(ready: boolean, replicas = ['detour-a']): KubeObject {
  return {
    kind: 'EndpointSlice',
    metadata: {
      name: 'detour-webhook-x1',
      namespace: 'detour-system',
      labels: { 'kubernetes.io/service-name': 'detour-webhook' },
    },
    addressType: 'IPv4',
    endpoints: replicas.map((name, i) => ({
      addresses: [`198.18.0.${String(10 + i)}`],
      conditions: { ready },
      targetRef: { kind: 'Pod', namespace: 'detour-system', name },
    })),
    ports: [{ name: 'https', port: 8443 }],
  };
}

/** A control-plane replica pod (the webhook behind the Service). */
export function replicaPod(name: string, index: number): KubeObject {
  return {
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'detour-system',
      labels: { 'app.kubernetes.io/name': 'detour' },
    },
    spec: { containers: [{ name: 'webhook', image: PROXY_IMAGE }] },
    status: { phase: 'Running', podIP: `198.18.0.${String(10 + index)}` },
  };
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return {
    kind: 'Namespace',
    metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } },
  };
}

/** The manifest's MWC with `caBundle` set on both webhooks. */
export function mutatingWebhookConfiguration(caPem: string): KubeObject {
  const mwc = YAML.parse(
    fs.readFileSync(path.join(REPO_ROOT, 'manifests/base/mutating-webhook.yaml'), 'utf8'),
  ) as KubeObject & { webhooks: { clientConfig: { caBundle?: string } }[] };
  for (const w of mwc.webhooks) w.clientConfig.caBundle = Buffer.from(caPem).toString('base64');
  return mwc;
}

export interface PodInput {
  namespace: string;
  name: string;
  /** The detour-proxy container's image; undefined: not injected. */
  proxyImage?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ip?: string;
  readySince?: string;
}

export function pod(input: PodInput): KubeObject {
  const injected = input.proxyImage !== undefined;
  return {
    kind: 'Pod',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: input.labels ?? {},
      annotations: {
        ...(injected ? { 'detour.dev/status': '{"version":1}' } : {}),
        ...input.annotations,
      },
    },
    spec: {
      initContainers: injected
        ? [{ name: 'detour-proxy', image: input.proxyImage, restartPolicy: 'Always' }]
        : [],
      containers: [{ name: 'app', image: 'registry.example/app:1' }],
    },
    status: {
      phase: 'Running',
      podIP: input.ip ?? '198.18.0.20',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          lastTransitionTime: input.readySince ?? new Date(Date.now() - 3_600_000).toISOString(),
        },
      ],
    },
  };
}

export interface TableInput {
  namespace: string;
  routes?: { host: string; path: string; pod: string; ip: string }[];
  status?: Record<string, unknown>;
}

export function routeTable(input: TableInput): KubeObject {
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'RouteTable',
    metadata: {
      name: 'detour-private',
      namespace: input.namespace,
      labels: { 'detour.dev/plane': 'private' },
    },
    spec: {
      plane: 'private',
      routes: (input.routes ?? []).map((r) => ({
        host: r.host,
        path: r.path,
        claimedAt: '2026-01-01T00:00:00Z',
        endpoints: [{ ip: r.ip, port: 8080, pod: r.pod }],
      })),
    },
    status: { skipped: [], conflicts: [], ...input.status },
  };
}

export type TestWebhook = SelfSignedWebhook;

/**
 * A healthy install in a fresh double whose MWC Service is `webhook`; its one replica
 * pod, `detour-system/detour-a`, is `webhook` too (port-forwards to it reach it).
 */
export async function startInstall(
  webhook: TestWebhook,
  options: ApiServerDoubleOptions = {},
): Promise<ApiServerDouble> {
  const api = await ApiServerDouble.start({
    resolveService: () => ({ host: '127.0.0.1', port: webhook.webhook.port }),
    resolvePod: () => ({ host: '127.0.0.1', port: webhook.webhook.port }),
    ...options,
  });
  for (const obj of [
    namespace('detour-system'),
    namespace('shop', { 'detour.dev/injection': 'enabled' }),
    crd('routetables.detour.dev'),
    crd('hostgrants.detour.dev'),
    deployment(2),
    endpointSlice(true),
    replicaPod('detour-a', 0),
    mutatingWebhookConfiguration(webhook.bundle.caPem),
    pod({
      namespace: 'shop',
      name: 'web',
      proxyImage: PROXY_IMAGE,
      labels: { routable: 'true' },
      annotations: { privateHosts: 'web.shop' },
    }),
    routeTable({
      namespace: 'shop',
      routes: [{ host: 'web.shop', path: '/', pod: 'web', ip: '198.18.0.20' }],
    }),
  ]) {
    api.seed(obj);
  }
  return api;
}
