import type { V1Container, V1ObjectMeta, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { STATUS_ANNOTATION } from './labels.js';
import type { PlaneConfig } from './plane-config.js';

/**
 * What `compile` reads of a pod, and nothing else: a controller caching 10,000 whole
 * pods (about 8 KiB each with managedFields, env, volumes and other annotations) held
 * 550 MB after its first sync (issue 13). Taken as each object arrives, as client-go's
 * informer transforms do (cache.TransformFunc), so the whole object is garbage at once.
 *
 * Keep in step with the readers: shared/pod-eligibility.ts (labels, deletionTimestamp,
 * phase, the Ready condition, podIP, container ports), shared/compile/pod-routes.ts
 * (name, namespace, creationTimestamp, the plane's hosts and paths annotations) and
 * shared/inbound-status.ts (detour.dev/status). test/unit/pod-projection.test.ts checks
 * that compiling projections gives the tables compiling the whole pods gives.
 */
export function podProjection(config: PlaneConfig): (pod: V1Pod) => V1Pod {
  const kept = [config.hostsAnnotation, config.pathsAnnotation, STATUS_ANNOTATION];
  return (pod) => {
    // Objects are plain JSON on the wire; client-node's classes are types only.
    const projection: unknown = {
      ...(pod.apiVersion === undefined ? {} : { apiVersion: pod.apiVersion }),
      ...(pod.kind === undefined ? {} : { kind: pod.kind }),
      metadata: metadataOf(pod.metadata, kept),
      spec: {
        containers: (pod.spec?.containers ?? []).map(portsOnly),
        // Native sidecars (restartPolicy: Always) serve ports beside the app.
        initContainers: (pod.spec?.initContainers ?? [])
          .filter((c) => c.restartPolicy === 'Always')
          .map((c) => ({ ...portsOnly(c), restartPolicy: c.restartPolicy })),
      },
      status: statusOf(pod.status),
    };
    return projection as V1Pod;
  };
}

function metadataOf(metadata: V1ObjectMeta | undefined, kept: readonly string[]): object {
  const annotations: Record<string, string> = {};
  for (const key of kept) {
    const value = metadata?.annotations?.[key];
    if (value !== undefined) annotations[key] = value;
  }
  return {
    name: metadata?.name,
    namespace: metadata?.namespace,
    uid: metadata?.uid,
    resourceVersion: metadata?.resourceVersion,
    creationTimestamp: metadata?.creationTimestamp,
    ...(metadata?.deletionTimestamp == null
      ? {}
      : { deletionTimestamp: metadata.deletionTimestamp }),
    labels: metadata?.labels,
    annotations,
  };
}

function statusOf(status: V1PodStatus | undefined): object {
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  return {
    phase: status?.phase,
    podIP: status?.podIP,
    conditions: ready === undefined ? [] : [{ type: ready.type, status: ready.status }],
  };
}

function portsOnly(container: V1Container): object {
  return {
    name: container.name,
    ports: (container.ports ?? []).map((p) => ({
      containerPort: p.containerPort,
      ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
    })),
  };
}
