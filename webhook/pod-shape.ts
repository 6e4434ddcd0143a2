import type { z } from 'zod';
import { isObject } from './admission-review.js';
import type { Pod } from './pod-types.js';
import { podSchema } from './pod-schema.js';

/**
 * The first step of every injection (webhook and `detour inject`): is the object shaped
 * like a Pod where the injector looks? The API server only sends well-typed pods, but
 * the webhook answers anything that reaches it and `detour inject` reads hand-written
 * YAML, so a malformed object gets a refusal naming each bad field
 * (`spec.containers[0].env[2].name: expected a string, got null`), never a TypeError.
 */

/**
 * Deeper than any Pod: its deepest fields (affinity terms, projected volume items) sit
 * about 12 levels down. The injector clones and diffs the whole object recursively, so
 * the depth is checked (without recursion) before anything else touches it.
 */
export const MAX_OBJECT_DEPTH = 64;
// Enough to fix a pod in one round; a pod with more is not a typo.
const MAX_PROBLEMS = 10;

export type FieldPath = readonly PropertyKey[];

export type PodShape = { pod: Pod } | { problems: string[] };

/**
 * The pod as the injector may read it, or what is wrong with it. `prefix` is where the
 * pod sits in the object the user wrote (`spec.template` of a Deployment), for messages.
 * The pod returned is a copy without null members: the API server decodes a JSON null
 * as "absent", and so does the injector, while the caller diffs against this copy so
 * that nulls it did not touch stay as they were sent.
 */
export function readPodShape(object: unknown, prefix: FieldPath = []): PodShape {
  const tooDeep = pathDeeperThan(object, MAX_OBJECT_DEPTH);
  if (tooDeep !== undefined) {
    return {
      problems: [at([...prefix, ...tooDeep], `nested deeper than ${MAX_OBJECT_DEPTH} levels`)],
    };
  }
  const result = podSchema.safeParse(object);
  if (!result.success) {
    const problems = result.error.issues.map((issue) =>
      at(
        [...prefix, ...issue.path],
        `${expectation(issue)}, got ${describe(valueAt(object, issue.path))}`,
      ),
    );
    const more = problems.length - MAX_PROBLEMS;
    return {
      problems: more > 0 ? [...problems.slice(0, MAX_PROBLEMS), `and ${more} more`] : problems,
    };
  }
  return { pod: withoutNullMembers(object) as Pod };
}

/** `spec.containers[0].env[2].name`, `metadata.annotations["detour.dev/capture"]`. */
export function formatPath(path: FieldPath): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) {
      text += text === '' ? key : `.${key}`;
    } else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}

function at(path: FieldPath, problem: string): string {
  return path.length === 0 ? problem : `${formatPath(path)}: ${problem}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  record: 'a map of strings',
};

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
    case 'too_small':
      return `expected at least ${String(issue.minimum)}`;
    case 'too_big':
      return `expected at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}`;
    default:
      return issue.message;
  }
}

/** The offending value in a message: short, and unambiguous about its type. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  // JSON and YAML give numbers and booleans here; nothing else reaches this point.
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

function valueAt(root: unknown, path: FieldPath): unknown {
  let node = root;
  for (const key of path) {
    if (typeof key === 'symbol' || (!isObject(node) && !Array.isArray(node))) return undefined;
    node = Object.hasOwn(node, key) ? (node as Record<string | number, unknown>)[key] : undefined;
  }
  return node;
}

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

/**
 * The value without null object members, as the API server's decoder sees it: the
 * same object where there is none (the API server never sends nulls), else a copy of
 * the parts that had some. Called only after the depth check, so the recursion is
 * bounded. A `__proto__` key stays an ordinary member, never a prototype.
 */
function withoutNullMembers(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(withoutNullMembers);
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (!isObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, member] of Object.entries(value)) {
    const kept = member === null ? undefined : withoutNullMembers(member);
    if (kept === member && copy === undefined) continue;
    copy ??= copyUntil(value, key);
    if (kept !== undefined) define(copy, key, kept);
  }
  return copy ?? value;
}

/** The members of `value` before `stop`, in order. */
function copyUntil(value: Record<string, unknown>, stop: string): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (key === stop) break;
    define(copy, key, member);
  }
  return copy;
}

function define(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else object[key] = value;
}
