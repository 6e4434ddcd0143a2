import * as z from './zod-mini.js';
import { routePolicySchema } from './api-policy.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_KIND,
  type RouteTableResource,
} from './route-table-resource.js';
import { schemaProblem } from './schema-problem.js';

/**
 * A RouteTable read from outside (a hand-written object in a `file:` source, or anything
 * not yet checked by the CRD's schema) is checked against this before it can route.
 * Mirrors route-table-resource.ts; unknown fields are ignored as the API server would
 * prune them.
 */
const endpoint = z.object({
  ip: z.string().check(z.minLength(1)),
  port: z.int().check(z.minimum(1), z.maximum(65535)),
  pod: z.string(),
});

const route = z.object({
  host: z.string().check(z.minLength(1)),
  path: z.string().check(z.startsWith('/')),
  claimedAt: z.string(),
  endpoints: z.array(endpoint),
  policy: z.optional(routePolicySchema),
  enforcedAt: z.optional(z.enum(['destination', 'caller'])),
});

/**
 * Bounded so that a table cannot make a proxy spend more than 64 MiB or a second on one
 * verification (scrypt's memory is 128 * n * r bytes: https://www.rfc-editor.org/rfc/rfc7914#section-2).
 */
export const SCRYPT_LIMITS = { maxN: 2 ** 17, maxR: 16, maxP: 4, maxMemory: 64 * 1024 * 1024 };
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const base64Field = z.string().check(z.minLength(1), z.maxLength(256), z.regex(BASE64));
const apiKeyHash = z
  .object({
    algorithm: z.literal('scrypt'),
    n: z.int().check(
      z.minimum(2),
      z.maximum(SCRYPT_LIMITS.maxN),
      z.refine((n) => (n & (n - 1)) === 0, 'n must be a power of two'),
    ),
    r: z.int().check(z.minimum(1), z.maximum(SCRYPT_LIMITS.maxR)),
    p: z.int().check(z.minimum(1), z.maximum(SCRYPT_LIMITS.maxP)),
    salt: base64Field,
    hash: base64Field,
  })
  .check(
    z.refine((h) => 128 * h.n * h.r <= SCRYPT_LIMITS.maxMemory, 'n * r needs more than 64 MiB'),
  );

const skipped = z.object({
  namespace: z.string(),
  pod: z.string(),
  annotation: z.string(),
  value: z.string(),
  reason: z.string(),
});

const conflict = z.object({
  host: z.string(),
  path: z.string(),
  winner: z.string(),
  loser: z.string(),
});

export const routeTableSchema = z.object({
  apiVersion: z.literal(ROUTE_TABLE_API_VERSION),
  kind: z.literal(ROUTE_TABLE_KIND),
  metadata: z.object({
    name: z.string().check(z.minLength(1)),
    namespace: z.string().check(z.minLength(1)),
    labels: z.optional(z.record(z.string(), z.string())),
    resourceVersion: z.optional(z.string()),
    creationTimestamp: z.optional(z.string()),
    uid: z.optional(z.string()),
  }),
  spec: z.object({
    plane: z.enum(['private', 'public']),
    apiKeyHashes: z.optional(z.array(apiKeyHash).check(z.maxLength(16))),
    apiKeySha256: z.optional(z.array(z.string().check(z.regex(/^[0-9a-f]{64}$/)))),
    routes: z.array(route),
  }),
  status: z.optional(
    z.object({
      skipped: z._default(z.array(skipped), []),
      conflicts: z._default(z.array(conflict), []),
    }),
  ),
});

export type ParseResult = { ok: true; value: RouteTableResource } | { ok: false; problem: string };

/** Checks one object; `problem` names the first bad field, e.g. `spec.routes.0.path: ...`. */
export function parseRouteTable(object: unknown): ParseResult {
  const result = routeTableSchema.safeParse(object);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, problem: schemaProblem(result.error) };
}
