import * as z from './zod-mini.js';
import type { Plane } from './plane-config.js';
import type { LabelSelector } from './label-selector.js';
import { schemaProblem } from './schema-problem.js';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_VERSION,
} from './route-table-resource.js';

/**
 * The HostGrant custom resource (detour.dev/v1alpha1, cluster-scoped): lets namespaces
 * claim hosts outside their own names (docs/adr/0006-host-claims.md). Only a cluster
 * admin can write a cluster-scoped object, which is the point: a namespace cannot grant
 * itself a host.
 *
 * manifests/base/crd-hostgrant.yaml is the schema the API server enforces; this zod
 * schema mirrors it for objects read from a `file:` source and for the compiler, which
 * ignores a grant that does not match it (it grants nothing rather than too much).
 */
export const HOST_GRANT_KIND = 'HostGrant';
export const HOST_GRANT_PLURAL = 'hostgrants';
export const HOST_GRANT_API_VERSION = ROUTE_TABLE_API_VERSION;
export const HOST_GRANT_GROUP = ROUTE_TABLE_GROUP;
export const HOST_GRANT_VERSION = ROUTE_TABLE_VERSION;

export interface HostGrantSpec {
  /** Namespaces, by name, that may claim `hosts`. */
  namespaces?: string[];
  /** Namespaces, by label, that may claim `hosts` (`{}` selects every namespace). */
  namespaceSelector?: LabelSelector;
  /** Exact host names or IPv4 addresses, or `*.suffix` (one or more labels before `.suffix`). */
  hosts: string[];
  /** Default: both planes. */
  planes?: Plane[];
}

export interface HostGrantResource {
  apiVersion: typeof HOST_GRANT_API_VERSION;
  kind: typeof HOST_GRANT_KIND;
  metadata: { name: string; resourceVersion?: string; uid?: string };
  spec: HostGrantSpec;
}

// https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names
const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
/** A host name, an IPv4 address, or `*.` and a name: lower-case, no port, no trailing dot. */
export const HOST_PATTERN = new RegExp(`^(\\*\\.)?${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const NAMESPACE_NAME = new RegExp(`^${DNS_LABEL}$`);

const selector = z.object({
  matchLabels: z.optional(z.record(z.string(), z.string())),
  matchExpressions: z.optional(
    z.array(
      z.object({
        key: z.string().check(z.minLength(1)),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.optional(z.array(z.string())),
      }),
    ),
  ),
});

export const hostGrantSchema = z.object({
  apiVersion: z.literal(HOST_GRANT_API_VERSION),
  kind: z.literal(HOST_GRANT_KIND),
  metadata: z.object({
    name: z.string().check(z.minLength(1)),
    resourceVersion: z.optional(z.string()),
    uid: z.optional(z.string()),
  }),
  spec: z
    .object({
      namespaces: z.optional(z.array(z.string().check(z.regex(NAMESPACE_NAME)))),
      namespaceSelector: z.optional(selector),
      hosts: z
        .array(z.string().check(z.maxLength(253), z.regex(HOST_PATTERN)))
        .check(z.minLength(1)),
      planes: z.optional(z.array(z.enum(['private', 'public']))),
    })
    .check(
      z.refine((spec) => spec.namespaces !== undefined || spec.namespaceSelector !== undefined, {
        message: 'set namespaces or namespaceSelector',
      }),
    ),
});

export type HostGrantParse =
  { ok: true; value: HostGrantResource } | { ok: false; problem: string };

/** Checks one object; `problem` names the first bad field, e.g. `spec.hosts.0: ...`. */
export function parseHostGrant(object: unknown): HostGrantParse {
  const result = hostGrantSchema.safeParse(object);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, problem: schemaProblem(result.error) };
}
