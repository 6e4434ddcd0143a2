import { FIELD_NAME } from './http-fields.js';
import { BadKnobError } from './errors.js';
import { parseByteSize } from './byte-size.js';

/**
 * A plane is one routing domain: `private` (sidecars, intra-cluster) or `public`
 * (the gateway at the edge). One codebase serves both; the seed router's env knobs pick
 * which annotations, Secret and header a process uses, with per-plane defaults.
 */
export type Plane = 'private' | 'public';

export interface PlaneConfig {
  plane: Plane;
  /** ROUTABLE_LABEL_SELECTOR, parsed: every key must equal its value. */
  routableSelector: string;
  routableLabels: Readonly<Record<string, string>>;
  hostsAnnotation: string;
  pathsAnnotation: string;
  apiKeySecretName: string;
  apiKeySecretField: string;
  /** Lower-cased: Node lower-cases incoming header names. */
  apiKeyHeader: string;
  /** Bytes; 0 means no limit (nginx's `client_max_body_size 0`). */
  clientMaxBodySize: number;
  /** PORT: where the gateway listens (the seed's nginx port). */
  port: number;
  /**
   * DETOUR_HOST_POLICY: `scoped` (default) lets a namespace claim only its own hosts and
   * those a HostGrant gives it; `open` is the seed's rule (any host, oldest claim wins).
   */
  hostPolicy: HostPolicy;
  /** DETOUR_CLUSTER_DOMAIN (default `cluster.local`): the tail of `<ns>.svc.<domain>`. */
  clusterDomain: string;
}

export type HostPolicy = 'scoped' | 'open';
const HOST_POLICIES: readonly HostPolicy[] = ['scoped', 'open'];

const DEFAULTS: Record<Plane, { hosts: string; paths: string; secret: string }> = {
  private: { hosts: 'privateHosts', paths: 'privatePaths', secret: 'routing:private-api-key' },
  public: { hosts: 'publicHosts', paths: 'publicPaths', secret: 'routing:public-api-key' },
};

// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
// https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads and validates the plane's knobs; throws BadKnobError naming the knob. */
export function loadPlaneConfig(plane: Plane, env: Env = process.env): PlaneConfig {
  const defaults = DEFAULTS[plane];
  const knob = (name: string, fallback: string): string => {
    const value = env[name];
    return value === undefined || value === '' ? fallback : value;
  };

  const routableSelector = knob('ROUTABLE_LABEL_SELECTOR', 'routable=true');
  const routableLabels = parseEqualitySelector('ROUTABLE_LABEL_SELECTOR', routableSelector);

  const hostsAnnotation = knob('HOSTS_ANNOTATION', defaults.hosts);
  const pathsAnnotation = knob('PATHS_ANNOTATION', defaults.paths);
  for (const [name, value] of [
    ['HOSTS_ANNOTATION', hostsAnnotation],
    ['PATHS_ANNOTATION', pathsAnnotation],
  ] as const) {
    if (!QUALIFIED_NAME.test(value)) {
      throw new BadKnobError(name, value, 'not a valid annotation name');
    }
  }

  const location = knob('API_KEY_SECRET_LOCATION', defaults.secret);
  const parts = location.split(':');
  const [secretName, secretField] = parts;
  if (
    parts.length !== 2 ||
    secretName === undefined ||
    secretField === undefined ||
    !DNS_SUBDOMAIN.test(secretName) ||
    !SECRET_KEY.test(secretField)
  ) {
    throw new BadKnobError(
      'API_KEY_SECRET_LOCATION',
      location,
      'expected {SECRET_NAME}:{DATA_FIELD}, e.g. routing:private-api-key',
    );
  }

  const apiKeyHeader = knob('API_KEY_HEADER', 'X-ROUTING-API-KEY');
  if (!FIELD_NAME.test(apiKeyHeader)) {
    throw new BadKnobError('API_KEY_HEADER', apiKeyHeader, 'not a valid HTTP header name');
  }

  // 0 (no limit), as in the seed's last release: a sidecar must be transparent, and a 2 MB
  // upload between two apps must not start failing when their namespace is labelled.
  const rawBody = knob('CLIENT_MAX_BODY_SIZE', '0');
  let clientMaxBodySize: number;
  try {
    clientMaxBodySize = parseByteSize(rawBody);
  } catch (err) {
    throw new BadKnobError('CLIENT_MAX_BODY_SIZE', rawBody, (err as Error).message);
  }

  const rawPort = knob('PORT', '80');
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port < 1 || port > 65535) {
    throw new BadKnobError('PORT', rawPort, 'expected a TCP port, 1-65535');
  }

  const hostPolicy = knob('DETOUR_HOST_POLICY', 'scoped');
  if (!HOST_POLICIES.includes(hostPolicy as HostPolicy)) {
    throw new BadKnobError('DETOUR_HOST_POLICY', hostPolicy, 'expected scoped or open');
  }
  // The kubelet's --cluster-domain; a trailing dot (fully qualified) is dropped.
  const clusterDomain = knob('DETOUR_CLUSTER_DOMAIN', 'cluster.local').replace(/\.$/, '');
  if (clusterDomain.length > 253 || !DNS_SUBDOMAIN.test(clusterDomain)) {
    throw new BadKnobError(
      'DETOUR_CLUSTER_DOMAIN',
      clusterDomain,
      'not a DNS name (lower-case labels of a-z, 0-9 and -), e.g. cluster.local',
    );
  }

  return {
    plane,
    routableSelector,
    routableLabels,
    hostsAnnotation,
    pathsAnnotation,
    apiKeySecretName: secretName,
    apiKeySecretField: secretField,
    apiKeyHeader: apiKeyHeader.toLowerCase(),
    clientMaxBodySize,
    port,
    hostPolicy: hostPolicy as HostPolicy,
    clusterDomain,
  };
}

/**
 * The seed accepted any label selector; detour supports the equality subset
 * (`a=b,c==d`), which is what every documented use of it needs and what a field in a
 * RouteTable can carry. Set-based selectors are refused by name rather than misread.
 */
export function parseEqualitySelector(knob: string, selector: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const term of selector.split(',')) {
    const match = /^\s*([^=!\s]+)\s*==?\s*([^=!\s]*)\s*$/.exec(term);
    const key = match?.[1];
    const value = match?.[2];
    if (
      key === undefined ||
      value === undefined ||
      !QUALIFIED_NAME.test(key) ||
      !LABEL_VALUE.test(value)
    ) {
      throw new BadKnobError(knob, selector, `term ${JSON.stringify(term)} is not key=value`);
    }
    labels[key] = value;
  }
  return labels;
}

export function planeFromMode(mode: 'sidecar' | 'gateway'): Plane {
  return mode === 'gateway' ? 'public' : 'private';
}
