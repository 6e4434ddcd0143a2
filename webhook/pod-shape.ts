import type * as z from '../shared/zod-mini.js';
import { formatPath, valueAt, type FieldPath } from './field-path.js';
import { withoutNullMembers } from './null-members.js';
import { pathDeeperThan } from './object-depth.js';
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

export type PodShape = { pod: Pod } | { problems: string[] };

/**
 * The pod as the injector may read it, or what is wrong with it. `prefix` is where the
 * pod sits in the object the user wrote (`spec.template` of a Deployment), for messages.
 * The pod returned has no null members (null-members.ts): the API server decodes a
 * JSON null as "absent", and so does the injector, while the caller diffs against this
 * pod so that nulls it did not touch stay as they were sent.
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
