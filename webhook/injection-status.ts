import type { Container, Pod } from './pod-types.js';
import { toInboundStatus, type InboundStatus } from '../shared/inbound-status.js';
import { CONTAINER_NAMES, STATUS_ANNOTATION } from '../shared/labels.js';
import { restoreProbes } from './probe-rewrite.js';
import { PROXY_URL, NO_PROXY, TOKEN_VOLUME } from './sidecar-containers.js';

/**
 * The `detour.dev/status` annotation: what the injector added, as JSON. Re-injecting a
 * pod first removes exactly that, then injects afresh, so inject(inject(p)) ==
 * inject(p) even when another webhook added containers in between (the API server
 * re-invokes us with `reinvocationPolicy: IfNeeded`).
 */
export interface InjectionStatus {
  version: 1;
  initContainers: string[];
  containers: string[];
  volumes: string[];
  /**
   * Inbound capture as injected (shared/inbound-status.ts): the controller relies on
   * this shape to mark routes `enforcedAt: destination`.
   */
  inbound?: InboundStatus;
  /** Pod annotations the injector added (the Prometheus scrape keys), removed on re-injection. */
  annotations?: string[];
  /** Set when the pod overrode the proxy's UID/GID (see inject-pod.ts). */
  proxyUid?: number;
  proxyGid?: number;
}

export function readStatus(pod: Pod): InjectionStatus | undefined {
  const raw = pod.metadata?.annotations?.[STATUS_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as Partial<InjectionStatus> | null;
    if (parsed?.version !== 1) return undefined;
    return {
      version: 1,
      initContainers: stringList(parsed.initContainers),
      containers: stringList(parsed.containers),
      volumes: stringList(parsed.volumes),
      ...(parsed.inbound === undefined ? {} : { inbound: toInboundStatus(parsed.inbound) }),
      ...(parsed.annotations === undefined ? {} : { annotations: stringList(parsed.annotations) }),
      ...(typeof parsed.proxyUid === 'number' ? { proxyUid: parsed.proxyUid } : {}),
      ...(typeof parsed.proxyGid === 'number' ? { proxyGid: parsed.proxyGid } : {}),
    };
  } catch {
    return undefined;
  }
}

export function formatStatus(status: InjectionStatus): string {
  return JSON.stringify(status);
}

const OUR_CONTAINERS = new Set<string>([CONTAINER_NAMES.init, CONTAINER_NAMES.proxy]);
const OUR_ENV = new Map([
  ['HTTP_PROXY', PROXY_URL],
  ['http_proxy', PROXY_URL],
  ['NO_PROXY', NO_PROXY],
  ['no_proxy', NO_PROXY],
]);

/**
 * Removes a previous injection in place. Our container and volume names are reserved,
 * so they are removed whether or not the status lists them (a status lost to a
 * `kubectl apply` must not lead to duplicates); proxy env vars only where they still
 * hold exactly our values, so a user's own HTTP_PROXY survives. Rewritten probes are
 * restored first, from the env of the proxy about to be removed.
 */
export function stripInjection(pod: Pod, status: InjectionStatus | undefined): void {
  const spec = pod.spec;
  if (spec === undefined) return;
  restoreProbes(spec);
  const containers = new Set([
    ...OUR_CONTAINERS,
    ...(status?.initContainers ?? []),
    ...(status?.containers ?? []),
  ]);
  const volumes = new Set([TOKEN_VOLUME, ...(status?.volumes ?? [])]);
  spec.initContainers = without(spec.initContainers, (c) => containers.has(c.name));
  spec.containers = without(spec.containers, (c) => containers.has(c.name)) ?? [];
  spec.volumes = without(spec.volumes, (v) => volumes.has(v.name));
  if (spec.initContainers === undefined) delete spec.initContainers;
  if (spec.volumes === undefined) delete spec.volumes;
  if (status !== undefined) {
    for (const c of spec.containers) stripProxyEnv(c);
    stripAnnotations(pod, status.annotations ?? []);
  }
}

function stripAnnotations(pod: Pod, keys: readonly string[]): void {
  const annotations = pod.metadata?.annotations;
  if (annotations === undefined) return;
  for (const key of keys) Reflect.deleteProperty(annotations, key);
}

function stripProxyEnv(container: Container): void {
  container.env = without(
    container.env,
    (e) => OUR_ENV.has(e.name) && e.valueFrom === undefined && OUR_ENV.get(e.name) === e.value,
  );
  if (container.env === undefined) delete container.env;
}

/**
 * The list without the matching items; the same array when nothing matched, and
 * undefined when removing emptied it, so a stripped pod has no `[]` the original
 * never had (the JSON patch would otherwise add one).
 */
function without<T>(list: T[] | undefined, drop: (item: T) => boolean): T[] | undefined {
  if (list === undefined) return undefined;
  const kept = list.filter((item) => !drop(item));
  if (kept.length === list.length) return list;
  return kept.length === 0 ? undefined : kept;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
