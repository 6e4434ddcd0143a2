import { Composer, LineCounter, Parser, type Document } from 'yaml';
import type { V1Namespace, V1Pod, V1Secret } from '@kubernetes/client-node';
import { DetourError } from '../../shared/errors.js';
import { parseHostGrant, type HostGrantResource } from '../../shared/host-grant.js';
import { API_POLICY_KIND } from '../../shared/api-policy.js';
import { parseRouteTable } from '../../shared/route-table-schema.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import { isRecord as isObject } from '../../shared/is-record.js';

/**
 * A "cluster in a file": multi-document YAML of the objects the controller would read
 * from the API server (Pods with their `status`, Secrets, Namespaces, HostGrants,
 * ApiPolicies) plus optional ready-made RouteTables. `kubectl get pods,secrets -A -o yaml` output (a
 * `kind: List`) works too. Other kinds (Deployment, Service, ...) are ignored, so one
 * file can also be applied to a real cluster.
 */
export interface ClusterObjects {
  pods: V1Pod[];
  secrets: V1Secret[];
  namespaces: V1Namespace[];
  hostGrants: HostGrantResource[];
  /**
   * Checked by the compiler, not here: an invalid policy is logged and skipped, as the
   * controller reports and skips it, and the rest of the file still routes.
   */
  apiPolicies: Record<string, unknown>[];
  routeTables: RouteTableResource[];
}

const KINDS = new Set(['Pod', 'Secret', 'Namespace', 'HostGrant', API_POLICY_KIND, 'RouteTable']);

/**
 * `source` names the file in errors, e.g. `manifests/examples/seed/cluster.yaml`.
 *
 * The documents are composed one at a time (yaml's Parser + Composer generators) and
 * each syntax tree is dropped once converted: `parseAllDocuments` holds every tree at
 * once, which for a 10,000-route file took the proxy's RSS from 93 MB to 158 MB.
 */
export function parseClusterYaml(text: string, source: string): ClusterObjects {
  const lineCounter = new LineCounter();
  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer({ uniqueKeys: true });
  const out: ClusterObjects = {
    pods: [],
    secrets: [],
    namespaces: [],
    hostGrants: [],
    apiPolicies: [],
    routeTables: [],
  };
  for (const document of composer.compose(parser.parse(text))) {
    const error = document.errors[0];
    if (error !== undefined) {
      const line = lineCounter.linePos(error.pos[0]).line;
      throw badSource(source, line, error.message.split('\n')[0] ?? error.message);
    }
    const line = lineOf(document, lineCounter);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (!isObject(value)) throw badSource(source, line, 'a document must be a mapping');
    addObject(value, out, source, line);
  }
  return out;
}

function addObject(
  object: Record<string, unknown>,
  out: ClusterObjects,
  source: string,
  line: number | undefined,
): void {
  const kind = object.kind;
  if (typeof kind !== 'string') throw badSource(source, line, 'object has no kind');
  if (kind === 'List' || kind.endsWith('List')) {
    const items = object.items;
    if (!Array.isArray(items)) throw badSource(source, line, `${kind} has no items`);
    for (const item of items) {
      if (!isObject(item)) throw badSource(source, line, `an item of the ${kind} is not a mapping`);
      addObject(item, out, source, line);
    }
    return;
  }
  if (!KINDS.has(kind)) return;
  const metadata = object.metadata;
  if (!isObject(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    throw badSource(source, line, `${kind} has no metadata.name`);
  }
  const name = `${kind} ${metadata.name}`;
  if (kind === 'Pod') {
    checkPod(object, name, source, line);
    out.pods.push(object);
  } else if (kind === 'Secret') {
    checkStringMap(object.data, `${name}: data`, source, line);
    checkStringMap(object.stringData, `${name}: stringData`, source, line);
    out.secrets.push(object);
  } else if (kind === 'Namespace') {
    checkStringMap(metadata.labels, `${name}: metadata.labels`, source, line);
    out.namespaces.push(object);
  } else if (kind === 'HostGrant') {
    const parsed = parseHostGrant(object);
    if (!parsed.ok) throw badSource(source, line, `${name}: ${parsed.problem}`);
    out.hostGrants.push(parsed.value);
  } else if (kind === API_POLICY_KIND) {
    out.apiPolicies.push(object);
  } else {
    const parsed = parseRouteTable(object);
    if (!parsed.ok) throw badSource(source, line, `${name}: ${parsed.problem}`);
    out.routeTables.push(parsed.value);
  }
}

/** Only the fields the compiler reads are checked; the API server owns the rest. */
function checkPod(
  pod: Record<string, unknown>,
  name: string,
  source: string,
  line: number | undefined,
): void {
  const metadata = pod.metadata as Record<string, unknown>;
  checkStringMap(metadata.labels, `${name}: metadata.labels`, source, line);
  checkStringMap(metadata.annotations, `${name}: metadata.annotations`, source, line);
  const spec = pod.spec;
  if (spec !== undefined && !isObject(spec)) {
    throw badSource(source, line, `${name}: spec must be a mapping`);
  }
  for (const field of ['containers', 'initContainers'] as const) {
    const containers = spec?.[field];
    if (containers === undefined) continue;
    if (!Array.isArray(containers)) {
      throw badSource(source, line, `${name}: spec.${field} must be a list`);
    }
    for (const container of containers) {
      const ports = isObject(container) ? container.ports : undefined;
      if (ports === undefined) continue;
      const ok =
        Array.isArray(ports) &&
        ports.every((p) => isObject(p) && Number.isInteger(p.containerPort));
      if (!ok) {
        throw badSource(
          source,
          line,
          `${name}: spec.${field}[].ports[].containerPort must be an integer`,
        );
      }
    }
  }
  const status = pod.status;
  if (status !== undefined && !isObject(status)) {
    throw badSource(source, line, `${name}: status must be a mapping`);
  }
  if (status?.podIP !== undefined && typeof status.podIP !== 'string') {
    throw badSource(source, line, `${name}: status.podIP must be a string`);
  }
}

function checkStringMap(
  value: unknown,
  what: string,
  source: string,
  line: number | undefined,
): void {
  if (value === undefined || value === null) return;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw badSource(
      source,
      line,
      `${what} must map strings to strings (quote numbers and booleans)`,
    );
  }
}

function lineOf(document: Document, lineCounter: LineCounter): number | undefined {
  const start = document.contents?.range?.[0];
  return start === undefined ? undefined : lineCounter.linePos(start).line;
}

export function badSource(source: string, line: number | undefined, problem: string): DetourError {
  const where = line === undefined ? source : `${source}:${line}`;
  return new DetourError('DETOUR_E_BAD_SOURCE', `${where}: ${problem}`, {
    source,
    line,
    problem,
  });
}
