import { isObject } from './admission-review.js';

/**
 * The injector trusts a Pod's types (lists are lists, names are strings). The API server
 * only sends well-typed pods, but the webhook answers anything that reaches it, and a
 * malformed object must get a clear refusal, not a TypeError reported as an internal
 * error. Returns what is wrong, or undefined.
 */
export function podShapeProblem(pod: Record<string, unknown>): string | undefined {
  const { metadata, spec } = pod;
  if (metadata !== undefined) {
    if (!isObject(metadata)) return 'metadata is not an object';
    for (const key of ['labels', 'annotations'] as const) {
      const map = metadata[key];
      if (map === undefined || map === null) continue;
      if (!isObject(map) || Object.values(map).some((v) => typeof v !== 'string')) {
        return `metadata.${key} is not a map of strings`;
      }
    }
  }
  if (!isObject(spec)) return 'spec is not an object';
  if (!Array.isArray(spec.containers)) return 'spec.containers is not a list';
  for (const field of ['containers', 'initContainers', 'volumes'] as const) {
    const list = spec[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return `spec.${field} is not a list`;
    const bad = list.findIndex((item) => !isObject(item) || typeof item.name !== 'string');
    if (bad >= 0) return `spec.${field}[${bad}] has no name`;
    if (field === 'volumes') continue;
    const badEnv = list.findIndex(
      (c: Record<string, unknown>) => c.env != null && !Array.isArray(c.env),
    );
    if (badEnv >= 0) return `spec.${field}[${badEnv}].env is not a list`;
  }
  return undefined;
}
