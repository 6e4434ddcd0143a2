import { isObject } from './admission-review.js';

/**
 * Where a field sits in an object, and how messages print it: the way `kubectl
 * explain` and the API server's own validation errors do (`spec.containers[0].name`).
 */
export type FieldPath = readonly PropertyKey[];

// A hostile key can be megabytes long; a message needs only enough of it to find it.
const MAX_KEY = 80;

/** `spec.containers[0].env[2].name`, `metadata.annotations["detour.dev/capture"]`. */
export function formatPath(path: FieldPath): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'string' && key.length <= MAX_KEY && /^[A-Za-z_$][\w$]*$/.test(key)) {
      text += text === '' ? key : `.${key}`;
    } else text += `[${JSON.stringify(shorten(String(key)))}]`;
  }
  return text;
}

function shorten(key: string): string {
  return key.length > MAX_KEY ? `${key.slice(0, MAX_KEY)}…` : key;
}

/** The value at `path`, or undefined where the path leads nowhere. */
export function valueAt(root: unknown, path: FieldPath): unknown {
  let node = root;
  for (const key of path) {
    if (typeof key === 'symbol' || (!isObject(node) && !Array.isArray(node))) return undefined;
    node = Object.hasOwn(node, key) ? (node as Record<string | number, unknown>)[key] : undefined;
  }
  return node;
}
