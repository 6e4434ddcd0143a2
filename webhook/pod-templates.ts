import { isObject } from './admission-review.js';
import type { PodTemplate } from './pod-types.js';

/**
 * Where each workload kind keeps its pod template, for `detour inject`. The same kinds
 * as `istioctl kube-inject`; anything else passes through untouched.
 */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export const WORKLOAD_KINDS = ['Pod', ...Object.keys(TEMPLATE_PATHS)];

/**
 * The object's pod template (metadata + spec), or undefined for other kinds. For a
 * Pod it is the Pod itself; the returned object is live, so writing its fields edits
 * the manifest.
 */
export function podTemplateOf(object: Record<string, unknown>): PodTemplate | undefined {
  const kind = object.kind;
  if (kind === 'Pod') return isObject(object.spec) ? object : undefined;
  const path = typeof kind === 'string' ? TEMPLATE_PATHS[kind] : undefined;
  if (path === undefined) return undefined;
  let node: unknown = object;
  for (const key of path) {
    node = isObject(node) ? node[key] : undefined;
  }
  return isObject(node) && isObject(node.spec) ? node : undefined;
}
