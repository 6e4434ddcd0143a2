import { z } from 'zod';
import { routePolicySchema } from './api-policy.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_KIND,
  type RouteTableResource,
} from './route-table-resource.js';

/**
 * A RouteTable read from outside (a hand-written object in a `file:` source, or anything
 * not yet checked by the CRD's schema) is checked against this before it can route.
 * Mirrors route-table-resource.ts; unknown fields are ignored as the API server would
 * prune them.
 */
const endpoint = z.object({
  ip: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  pod: z.string(),
});

const route = z.object({
  host: z.string().min(1),
  path: z.string().startsWith('/'),
  claimedAt: z.string(),
  endpoints: z.array(endpoint),
  policy: routePolicySchema.optional(),
});

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
    name: z.string().min(1),
    namespace: z.string().min(1),
    labels: z.record(z.string(), z.string()).optional(),
    resourceVersion: z.string().optional(),
    creationTimestamp: z.string().optional(),
    uid: z.string().optional(),
  }),
  spec: z.object({
    plane: z.enum(['private', 'public']),
    apiKeySha256: z.array(z.string().regex(/^[0-9a-f]{64}$/)).optional(),
    routes: z.array(route),
  }),
  status: z
    .object({ skipped: z.array(skipped).default([]), conflicts: z.array(conflict).default([]) })
    .optional(),
});

export type ParseResult = { ok: true; value: RouteTableResource } | { ok: false; problem: string };

/** Checks one object; `problem` names the first bad field, e.g. `spec.routes.0.path: ...`. */
export function parseRouteTable(object: unknown): ParseResult {
  const result = routeTableSchema.safeParse(object);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const where = issue === undefined ? '' : issue.path.map(String).join('.');
  return {
    ok: false,
    problem: `${where === '' ? '(object)' : where}: ${issue?.message ?? 'invalid'}`,
  };
}
