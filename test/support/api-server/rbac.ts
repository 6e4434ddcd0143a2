/**
 * RBAC for the double: ClusterRole rules per user, evaluated as the API server's RBAC
 * authorizer does for resource requests (apiGroups, resources incl. `x/status`, verbs,
 * resourceNames; `*` wildcards). The name of a list/watch is the one its
 * `metadata.name=` field selector names, as the API server's RequestInfo derives it,
 * which is what lets `resourceNames` grant a list/watch.
 * https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { AccessRequest } from './server.js';

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

const has = (list: readonly string[] | undefined, value: string): boolean =>
  list !== undefined && (list.includes('*') || list.includes(value));

export function allows(rules: readonly PolicyRule[], request: AccessRequest): boolean {
  const resource =
    request.subresource === undefined
      ? request.resource
      : `${request.resource}/${request.subresource}`;
  return rules.some(
    (rule) =>
      has(rule.apiGroups, request.group) &&
      has(rule.resources, resource) &&
      has(rule.verbs, request.verb) &&
      (rule.resourceNames === undefined ||
        rule.resourceNames.length === 0 ||
        (request.name !== undefined && rule.resourceNames.includes(request.name))),
  );
}

/** The rules of the named ClusterRole in a YAML file of several documents. */
export function clusterRoleRules(file: string, name: string): PolicyRule[] {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const obj = doc.toJS() as { kind?: string; metadata?: { name?: string }; rules?: PolicyRule[] };
    if (obj.kind === 'ClusterRole' && obj.metadata?.name === name) return obj.rules ?? [];
  }
  throw new Error(`no ClusterRole ${name} in ${file}`);
}

/** An `authorize` hook for the double: each user gets exactly its rules. */
export function rbacAuthorizer(
  rulesByUser: Record<string, readonly PolicyRule[]>,
): (request: AccessRequest) => boolean {
  return (request) => allows(rulesByUser[request.user] ?? [], request);
}
