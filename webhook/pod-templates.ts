/**
 * Where each workload kind keeps its pod template, for `detour inject`. The same kinds
 * as `istioctl kube-inject`; anything else passes through untouched. A Pod is its own
 * template (the empty path).
 */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The path from the object to its pod template, or undefined for other kinds. */
export function templatePath(object: Record<string, unknown>): readonly string[] | undefined {
  const kind = object.kind;
  return typeof kind === 'string' && Object.hasOwn(TEMPLATE_PATHS, kind)
    ? TEMPLATE_PATHS[kind]
    : undefined;
}
