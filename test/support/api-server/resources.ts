/**
 * The resources the double serves and how their REST paths look.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: unknown[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface ResourceDef {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** With a status subresource, writes to the object ignore status and vice versa. */
  statusSubresource: boolean;
}

export const RESOURCES: readonly ResourceDef[] = [
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    kind: 'Pod',
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: '',
    version: 'v1',
    plural: 'secrets',
    kind: 'Secret',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    statusSubresource: true,
  },
  {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
    statusSubresource: false,
  },
  {
    group: 'detour.dev',
    version: 'v1alpha1',
    plural: 'hostgrants',
    kind: 'HostGrant',
    namespaced: false,
    statusSubresource: false,
  },
  {
    group: 'detour.dev',
    version: 'v1alpha1',
    plural: 'apipolicies',
    kind: 'ApiPolicy',
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: 'detour.dev',
    version: 'v1alpha1',
    plural: 'routetables',
    kind: 'RouteTable',
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: '',
    version: 'v1',
    plural: 'services',
    kind: 'Service',
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    namespaced: true,
    statusSubresource: false,
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    kind: 'Deployment',
    namespaced: true,
    statusSubresource: true,
  },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
    statusSubresource: true,
  },
];

export function apiVersionOf(def: ResourceDef): string {
  return def.group === '' ? def.version : `${def.group}/${def.version}`;
}

export function resourceId(def: ResourceDef): string {
  return `${def.group}/${def.plural}`;
}

export function findResource(kind: string): ResourceDef {
  const def = RESOURCES.find((r) => r.kind === kind);
  if (def === undefined) throw new Error(`the double does not serve kind ${kind}`);
  return def;
}

export interface ParsedPath {
  def: ResourceDef;
  /** Namespace from the path; undefined for cluster-wide collection requests. */
  namespace: string | undefined;
  name: string | undefined;
  subresource: 'status' | undefined;
}

export type PathResult = ParsedPath | { discovery: string } | null;

/**
 * `/api/v1[/namespaces/NS]/PLURAL[/NAME[/status]]` and the same under
 * `/apis/GROUP/VERSION`; namespaces themselves are `/api/v1/namespaces[/NAME]`.
 */
function splitGroupVersion(
  pathname: string,
): { group: string; version: string; rest: string[] } | null {
  const parts = pathname.split('/').filter((p) => p !== '');
  if (parts[0] === 'api' && parts[1] !== undefined) {
    return { group: '', version: parts[1], rest: parts.slice(2) };
  }
  if (parts[0] === 'apis' && parts[1] !== undefined && parts[2] !== undefined) {
    return { group: parts[1], version: parts[2], rest: parts.slice(3) };
  }
  return null;
}

export function parsePath(pathname: string): PathResult {
  const split = splitGroupVersion(pathname);
  if (split === null) return null;
  const { group, version } = split;
  let rest = split.rest;
  if (rest.length === 0) return { discovery: group === '' ? version : `${group}/${version}` };
  const defs = RESOURCES.filter((r) => r.group === group && r.version === version);
  let namespace: string | undefined;
  const nsPlural = rest[2];
  if (rest[0] === 'namespaces' && defs.some((d) => d.namespaced && d.plural === nsPlural)) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, sub, ...extra] = rest;
  const def = defs.find((r) => r.plural === plural);
  if (def === undefined || extra.length > 0) return null;
  if (sub !== undefined && (sub !== 'status' || !def.statusSubresource)) return null;
  if (namespace !== undefined && !def.namespaced) return null;
  if (def.namespaced && namespace === undefined && name !== undefined) return null;
  return { def, namespace, name, subresource: sub === 'status' ? 'status' : undefined };
}

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}
