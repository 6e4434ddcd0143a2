/**
 * Small helpers tests use to drive the double through the real client library:
 * routable pods (create, then PUT status the way the kubelet reports readiness), Secrets,
 * Namespaces, HostGrants, ApiPolicies, and waiting for a condition.
 */
/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment, @typescript-eslint/no-misused-spread --
 * client-node's models are behaviour-less generated classes and its API takes plain
 * object literals; the rules guard against class instances that have methods. */
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  HOST_GRANT_API_VERSION,
  HOST_GRANT_GROUP,
  HOST_GRANT_KIND,
  HOST_GRANT_PLURAL,
  HOST_GRANT_VERSION,
  type HostGrantSpec,
} from '../../../shared/host-grant.js';
import { API_POLICY_KIND, API_POLICY_PLURAL } from '../../../shared/api-policy.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_VERSION,
} from '../../../shared/route-table-resource.js';

export interface PodSpecInput {
  namespace: string;
  name: string;
  ip: string;
  hosts?: string;
  paths?: string;
  ports?: number[];
  ready?: boolean;
  labels?: Record<string, string>;
  hostsAnnotation?: string;
  pathsAnnotation?: string;
}

export function routablePod(input: PodSpecInput): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: input.labels ?? { routable: 'true' },
      annotations: {
        ...(input.hosts === undefined
          ? {}
          : { [input.hostsAnnotation ?? 'privateHosts']: input.hosts }),
        ...(input.paths === undefined
          ? {}
          : { [input.pathsAnnotation ?? 'privatePaths']: input.paths }),
      },
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'example/app:1',
          ports: (input.ports ?? [8080]).map((containerPort) => ({ containerPort })),
        },
      ],
    },
  };
}

export function podStatus(ip: string, ready: boolean): V1Pod['status'] {
  return {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
  };
}

const API_POLICY = {
  group: ROUTE_TABLE_GROUP,
  version: ROUTE_TABLE_VERSION,
  plural: API_POLICY_PLURAL,
};

export class KubeTestClient {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** Creates or relabels a Namespace (labels replace the old ones). */
  async putNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    try {
      const current = await this.core.readNamespace({ name });
      current.metadata = { ...current.metadata, labels };
      await this.core.replaceNamespace({ name, body: current });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.core.createNamespace({ body: { metadata: { name, labels } } });
    }
  }

  /** Creates a cluster-scoped HostGrant (detour.dev/v1alpha1). */
  async createHostGrant(name: string, spec: HostGrantSpec): Promise<void> {
    await this.custom.createClusterCustomObject({
      group: HOST_GRANT_GROUP,
      version: HOST_GRANT_VERSION,
      plural: HOST_GRANT_PLURAL,
      body: { apiVersion: HOST_GRANT_API_VERSION, kind: HOST_GRANT_KIND, metadata: { name }, spec },
    });
  }

  async deleteHostGrant(name: string): Promise<void> {
    await this.custom.deleteClusterCustomObject({
      group: HOST_GRANT_GROUP,
      version: HOST_GRANT_VERSION,
      plural: HOST_GRANT_PLURAL,
      name,
    });
  }

  /** Creates or replaces a namespaced ApiPolicy (detour.dev/v1alpha1); no CRD validation. */
  async putApiPolicy(namespace: string, name: string, spec: unknown): Promise<void> {
    const ref = { ...API_POLICY, namespace };
    const body = {
      apiVersion: ROUTE_TABLE_API_VERSION,
      kind: API_POLICY_KIND,
      metadata: { name, namespace } as {
        name: string;
        namespace: string;
        resourceVersion?: string;
      },
      spec,
    };
    try {
      const current = (await this.custom.getNamespacedCustomObject({ ...ref, name })) as {
        metadata: { resourceVersion: string };
      };
      body.metadata.resourceVersion = current.metadata.resourceVersion;
      await this.custom.replaceNamespacedCustomObject({ ...ref, name, body });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.custom.createNamespacedCustomObject({ ...ref, body });
    }
  }

  /** The ApiPolicy as stored (status included). */
  async getApiPolicy(namespace: string, name: string): Promise<Record<string, unknown>> {
    return (await this.custom.getNamespacedCustomObject({
      ...API_POLICY,
      namespace,
      name,
    })) as Record<string, unknown>;
  }

  async deleteApiPolicy(namespace: string, name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ ...API_POLICY, namespace, name });
  }

  /** Creates the pod, then reports it Running (and Ready unless `ready: false`). */
  async createPod(input: PodSpecInput): Promise<V1Pod> {
    await this.core.createNamespacedPod({ namespace: input.namespace, body: routablePod(input) });
    return this.setPodStatus(input.namespace, input.name, input.ip, input.ready ?? true);
  }

  async setPodStatus(namespace: string, name: string, ip: string, ready: boolean): Promise<V1Pod> {
    const pod = await this.core.readNamespacedPod({ namespace, name });
    pod.status = podStatus(ip, ready);
    return this.core.replaceNamespacedPodStatus({ namespace, name, body: pod });
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await this.core.deleteNamespacedPod({ namespace, name });
  }

  async annotatePod(namespace: string, name: string, annotations: Record<string, string>) {
    const pod = await this.core.readNamespacedPod({ namespace, name });
    pod.metadata = {
      ...pod.metadata,
      annotations: { ...pod.metadata?.annotations, ...annotations },
    };
    return this.core.replaceNamespacedPod({ namespace, name, body: pod });
  }

  async putSecret(
    namespace: string,
    name: string,
    data: Record<string, string>,
  ): Promise<V1Secret> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace } as {
        name: string;
        namespace: string;
        resourceVersion?: string;
      },
      data: Object.fromEntries(
        Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
    };
    try {
      const current = await this.core.readNamespacedSecret({ namespace, name });
      body.metadata.resourceVersion = current.metadata?.resourceVersion;
      return await this.core.replaceNamespacedSecret({ namespace, name, body });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      return this.core.createNamespacedSecret({ namespace, body });
    }
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.core.deleteNamespacedSecret({ namespace, name });
  }
}

export { eventually } from '../eventually.js';
