import type { Container, Pod, PodSpec } from './pod-types.js';
import type { InboundSettings } from './inbound-settings.js';
import { isDetourError, type DetourError } from '../shared/errors.js';
import {
  CONTAINER_NAMES,
  DEFAULT_CONTAINER_ANNOTATION,
  STATUS_ANNOTATION,
} from '../shared/labels.js';
import type { InjectorConfig } from './injector-config.js';
import { readInjectionSettings } from './injection-settings.js';
import {
  formatStatus,
  readStatus,
  stripInjection,
  type InjectionStatus,
} from './injection-status.js';
import { rewriteProbes } from './probe-rewrite.js';
import { scrapeAnnotations } from './scrape-annotations.js';
import {
  initContainer,
  proxyContainer,
  proxyEnv,
  tokenVolume,
  TOKEN_VOLUME,
  type ProxyIdentity,
} from './sidecar-containers.js';

export type InjectResult =
  | { pod: Pod; warnings: string[] }
  /** A bad annotation (code DETOUR_E_BAD_ANNOTATION), every one of them named. */
  | { refused: string; error: DetourError };

/**
 * The injection itself: a pure function of the pod, its namespace and the injector's
 * config. It never mutates its input; the caller diffs input and output into a JSON
 * patch. Whether to inject at all is decided before (injection-decision.ts).
 *
 * Layout (https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/):
 * - native (default): initContainers = [detour-init, detour-proxy (restartPolicy
 *   Always), ...the pod's own], so the pod's init containers already run captured and
 *   other tools' native sidecars start after ours;
 * - classic (`detour.dev/native-sidecar: "false"`): the pod's init containers run
 *   uncaptured first, `detour-init` last, and the proxy is the last container.
 */
export function injectPod(pod: Pod, namespace: string, config: InjectorConfig): InjectResult {
  const out = structuredClone(pod);
  out.metadata ??= {};
  out.spec ??= { containers: [] };
  const spec = out.spec;

  const previous = readStatus(out);
  const identity = proxyIdentity(out, previous, config);
  stripInjection(out, previous);

  let settings;
  try {
    settings = readInjectionSettings(
      out.metadata.annotations ?? {},
      { resources: config.proxyResources, proxyUid: identity.uid },
      spec.containers,
    );
  } catch (err) {
    if (isDetourError(err) && err.code === 'DETOUR_E_BAD_ANNOTATION') {
      return { refused: err.message, error: err };
    }
    throw err;
  }

  const mode = settings.capture.mode;
  const native = settings.nativeSidecar;
  const needsToken = spec.automountServiceAccountToken === false;
  const inbound = settings.inbound;
  const appProbes = inbound.rewriteProbes
    ? rewriteProbes(spec.containers, new Set(inbound.ports.map((p) => p.appPort)))
    : {};
  const proxy = proxyContainer(settings, config, identity, {
    native,
    tokenVolume: needsToken,
    appProbes,
  });
  const ours: Container[] = mode === 'iptables' ? [initContainer(settings, config)] : [];
  const appNames = spec.containers.map((c) => c.name);

  placeContainers(spec, ours, proxy, native);
  if (mode === 'proxy-env') {
    for (const c of spec.containers) if (c !== proxy) addProxyEnv(c);
  }
  if (needsToken) spec.volumes = [...(spec.volumes ?? []), tokenVolume()];

  const scrape = scrapeAnnotations(out.metadata.annotations ?? {});
  const status = injectionStatus(spec, native, needsToken, inbound, identity, Object.keys(scrape));
  const annotations: Record<string, string> = {
    ...out.metadata.annotations,
    ...scrape,
    [STATUS_ANNOTATION]: formatStatus(status),
  };
  const firstApp = appNames[0];
  if (firstApp !== undefined && annotations[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    // `kubectl logs POD` shows the app; `kubectl logs POD -c detour-proxy` the sidecar.
    annotations[DEFAULT_CONTAINER_ANNOTATION] = firstApp;
  }
  out.metadata.annotations = annotations;

  return { pod: out, warnings: warnings(pod, namespace, identity.uid) };
}

function placeContainers(
  spec: PodSpec,
  ours: Container[],
  proxy: Container,
  native: boolean,
): void {
  const userInit = spec.initContainers ?? [];
  if (native) {
    spec.initContainers = [...ours, proxy, ...userInit];
    return;
  }
  if (ours.length > 0) spec.initContainers = [...userInit, ...ours];
  spec.containers = [...spec.containers, proxy];
}

/**
 * The proxy's UID/GID: the injector's (1337 by default), unless the pod declares its own
 * `detour-proxy` container with a securityContext, as Istio lets a pod override fields
 * of its injected `istio-proxy`. The init container's `--proxy-uid` follows, so the
 * proxy's own connections stay uncaptured whatever UID it runs as. A re-injection reads
 * the override back from the status annotation.
 */
function proxyIdentity(
  pod: Pod,
  previous: InjectionStatus | undefined,
  config: InjectorConfig,
): ProxyIdentity & { overridden: boolean } {
  if (previous?.proxyUid !== undefined) {
    return {
      uid: previous.proxyUid,
      gid: previous.proxyGid ?? previous.proxyUid,
      overridden: true,
    };
  }
  if (previous === undefined) {
    const declared = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
      (c) => c.name === CONTAINER_NAMES.proxy,
    );
    const uid = declared?.securityContext?.runAsUser;
    if (uid !== undefined && uid !== 0) {
      return { uid, gid: declared?.securityContext?.runAsGroup ?? uid, overridden: true };
    }
  }
  return { uid: config.proxyUid, gid: config.proxyUid, overridden: false };
}

/**
 * Adds HTTP_PROXY/http_proxy and NO_PROXY/no_proxy, each pair only when the container
 * sets neither spelling: a user's own proxy settings win, and clients that read only
 * one spelling never see two different proxies.
 */
function addProxyEnv(container: Container): void {
  const taken = new Set((container.env ?? []).map((e) => e.name.toUpperCase()));
  const added = proxyEnv().filter((e) => !taken.has(e.name.toUpperCase()));
  if (added.length > 0) container.env = [...(container.env ?? []), ...added];
}

/** Things that will not work as the user probably expects, for the review's `warnings`. */
function warnings(pod: Pod, namespace: string, proxyUid: number): string[] {
  const podUid = pod.spec?.securityContext?.runAsUser;
  return (pod.spec?.containers ?? [])
    .filter(
      (c) =>
        c.name !== CONTAINER_NAMES.proxy && (c.securityContext?.runAsUser ?? podUid) === proxyUid,
    )
    .map(
      (c) =>
        `detour: container ${c.name} in namespace ${namespace} runs as UID ${proxyUid}, the proxy's UID; its outbound traffic is not captured`,
    );
}

/** What this injection added, for `detour.dev/status` (re-injection removes exactly that). */
function injectionStatus(
  spec: NonNullable<Pod['spec']>,
  native: boolean,
  needsToken: boolean,
  inbound: InboundSettings,
  identity: { overridden: boolean; uid: number; gid: number },
  /** The scrape annotations added (scrape-annotations.ts), removed again on re-injection. */
  annotationsAdded: string[],
): InjectionStatus {
  return {
    version: 1,
    initContainers: (spec.initContainers ?? [])
      .map((c) => c.name)
      .filter((n) => n === CONTAINER_NAMES.init || n === CONTAINER_NAMES.proxy),
    containers: native ? [] : [CONTAINER_NAMES.proxy],
    volumes: needsToken ? [TOKEN_VOLUME] : [],
    inbound:
      inbound.mode === 'enforce'
        ? { mode: 'enforce', ports: inbound.ports.map((p) => p.appPort) }
        : { mode: 'off' },
    ...(annotationsAdded.length > 0 ? { annotations: annotationsAdded } : {}),
    ...(identity.overridden ? { proxyUid: identity.uid, proxyGid: identity.gid } : {}),
  };
}
