import { CONTAINER_NAMES, INJECT_KEY, STATUS_ANNOTATION } from '../shared/labels.js';
import { fail, pass, type CheckLine } from './check-report.js';
import type { KubeItem } from './cluster-reader.js';

const GROUP = 'data plane';

interface PodSpecShape {
  hostNetwork?: boolean;
  containers?: { name: string; image?: string }[];
  initContainers?: { name: string; image?: string }[];
}

export function proxyContainerOf(pod: KubeItem): { name: string; image?: string } | undefined {
  const spec = pod.spec as PodSpecShape | undefined;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find(
    (c) => c.name === CONTAINER_NAMES.proxy,
  );
}

export function isInjected(pod: KubeItem): boolean {
  return (
    pod.metadata.annotations?.[STATUS_ANNOTATION] !== undefined ||
    proxyContainerOf(pod) !== undefined
  );
}

/** Would the webhook inject this pod if it were created now (the cheap part of its rules)? */
function wantsSidecar(pod: KubeItem): boolean {
  const spec = pod.spec as PodSpecShape | undefined;
  const optOut =
    (pod.metadata.labels?.[INJECT_KEY] ?? pod.metadata.annotations?.[INJECT_KEY]) === 'false';
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return !optOut && spec?.hostNetwork !== true && phase !== 'Succeeded' && phase !== 'Failed';
}

/**
 * Admission runs at creation only: pods that existed before their namespace was
 * labelled keep running without a sidecar until they are recreated.
 */
export function checkUninjected(
  pods: readonly KubeItem[],
  labelledNamespaces: ReadonlySet<string>,
): CheckLine[] {
  const description = 'every pod in a labelled namespace has the sidecar';
  const missing = pods.filter(
    (p) => labelledNamespaces.has(p.metadata.namespace ?? '') && wantsSidecar(p) && !isInjected(p),
  );
  if (missing.length === 0) return [pass(GROUP, description)];
  return missing.map((p) =>
    fail(GROUP, description, {
      detail: 'created before the namespace was labelled (admission runs at creation only)',
      hint: `recreate it: kubectl -n ${p.metadata.namespace ?? ''} rollout restart deployment/<its deployment>, or delete the pod`,
      culprit: `${p.metadata.namespace ?? ''}/${p.metadata.name}`,
    }),
  );
}

/** A proxy injected by an older (or newer) webhook runs another image than it would today. */
export function checkProxyImages(
  pods: readonly KubeItem[],
  controlPlaneImage: string,
): CheckLine[] {
  const description = "every proxy runs the control plane's image";
  const drifted = pods.flatMap((p) => {
    const image = proxyContainerOf(p)?.image;
    return image === undefined || image === controlPlaneImage ? [] : [{ pod: p, image }];
  });
  if (drifted.length === 0) return [pass(GROUP, description)];
  return drifted.map(({ pod, image }) =>
    fail(GROUP, description, {
      detail: `runs ${image}; the control plane injects ${controlPlaneImage}`,
      hint: `recreate the pod (kubectl -n ${pod.metadata.namespace ?? ''} rollout restart ...) to pick up the current proxy`,
      culprit: `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`,
    }),
  );
}
