import type { FieldPath } from './field-path.js';

interface Frame {
  value: unknown;
  depth: number;
  key: PropertyKey;
  parent: Frame | undefined;
}

/**
 * The path to the first object or list nested deeper than `max` levels (the root is
 * level 1), or undefined. Iterative, so a hostile depth cannot exhaust the stack.
 */
export function pathDeeperThan(root: unknown, max: number): FieldPath | undefined {
  return deeperThan(root, max) ? firstPathDeeperThan(root, max) : undefined;
}

// The common case, cheaply: no path kept, one array of (value, depth) pairs.
function deeperThan(root: unknown, max: number): boolean {
  const stack: unknown[] = [root, 1];
  while (stack.length > 0) {
    const depth = stack.pop() as number;
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(value)) stack.push(child, depth + 1);
  }
  return false;
}

function firstPathDeeperThan(root: unknown, max: number): FieldPath | undefined {
  const stack: Frame[] = [{ value: root, depth: 1, key: '', parent: undefined }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { value, depth } = frame;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return pathOf(frame);
    for (const [key, child] of Object.entries(value)) {
      const index = Array.isArray(value) ? Number(key) : key;
      stack.push({ value: child, depth: depth + 1, key: index, parent: frame });
    }
  }
  return undefined;
}

function pathOf(frame: Frame): FieldPath {
  const path: PropertyKey[] = [];
  let f = frame;
  while (f.parent !== undefined) {
    path.push(f.key);
    f = f.parent;
  }
  return path.reverse();
}
