import type { V1Pod } from '@kubernetes/client-node';

/**
 * Which pods receive traffic: the seed's label selector, and only pods that can answer
 * now. This is the readiness test kube-proxy and EndpointSlices apply
 * (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-conditions):
 * phase Running, condition Ready=True, an IP, and not terminating (a pod with a
 * deletionTimestamp is draining and must not get new requests).
 */
export function isEligiblePod(
  pod: V1Pod,
  routableLabels: Readonly<Record<string, string>>,
): boolean {
  return ineligibility(pod, routableLabels) === undefined;
}

/** Why a pod gets no traffic (for `detour routes --explain` and debug logs), or undefined. */
export function ineligibility(
  pod: V1Pod,
  routableLabels: Readonly<Record<string, string>>,
): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  for (const [key, value] of Object.entries(routableLabels)) {
    if (labels[key] !== value) return `label ${key}=${value} missing`;
  }
  if (pod.metadata?.deletionTimestamp != null) return 'terminating (deletionTimestamp set)';
  if (pod.status?.phase !== 'Running')
    return `phase ${pod.status?.phase ?? 'unknown'}, not Running`;
  const ready = pod.status.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return 'condition Ready is not True';
  if (pod.status.podIP === undefined || pod.status.podIP === '') return 'no status.podIP';
  return undefined;
}

/**
 * The ports a pod serves: containerPorts of its containers, and of native sidecars
 * (init containers with `restartPolicy: Always`, which keep running beside the app).
 * https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
 */
export function declaredPorts(pod: V1Pod): Set<number> {
  const ports = new Set<number>();
  const containers = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
  ];
  for (const container of containers) {
    for (const port of container.ports ?? []) {
      if ((port.protocol ?? 'TCP') === 'TCP') ports.add(port.containerPort);
    }
  }
  return ports;
}
