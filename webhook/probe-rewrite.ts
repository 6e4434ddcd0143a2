import type { Container, PodSpec, Probe } from './pod-types.js';
import {
  APP_PROBES_ENV,
  appHealthPath,
  appProbeKey,
  parseAppProbes,
  PROBE_KINDS,
  type AppProbe,
  type AppProbes,
  type ProbeField,
  type ProbeKind,
} from '../shared/app-probes.js';
import { CONTAINER_NAMES, PORTS } from '../shared/labels.js';

/**
 * Probe rewriting (shared/app-probes.ts says why). An `httpGet` or `tcpSocket` probe of
 * an app container whose port, a number or a name from the container's `ports`, is a
 * captured inbound port becomes an `httpGet` on the proxy's admin port at
 * `/app-health/<container>/<livez|readyz|startupz>`; every other field (delays, period,
 * thresholds, timeout) stays, so the kubelet probes on the same schedule. `exec` and
 * `grpc` probes, probes with an explicit `host` (the kubelet does not dial this pod
 * then) and probes of other ports are left alone.
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
 *
 * Mutates `containers` (a clone, in inject-pod.ts) and returns the originals for the
 * proxy's env.
 */
export function rewriteProbes(containers: Container[], captured: ReadonlySet<number>): AppProbes {
  const originals: AppProbes = {};
  for (const container of containers) {
    for (const [field, kind] of Object.entries(PROBE_KINDS) as [ProbeField, ProbeKind][]) {
      const probe = container[field];
      if (probe === undefined) continue;
      const original = appProbe(container, probe);
      const port = original?.httpGet?.port ?? original?.tcpSocket?.port;
      if (original === undefined || port === undefined || !captured.has(port)) continue;
      originals[appProbeKey(container.name, kind)] = original;
      container[field] = rewritten(probe, appHealthPath(container.name, kind));
    }
  }
  return originals;
}

/** The env var that carries the originals to the proxy (none when nothing was rewritten). */
export function appProbesEnv(originals: AppProbes): { name: string; value: string }[] {
  if (Object.keys(originals).length === 0) return [];
  return [{ name: APP_PROBES_ENV, value: JSON.stringify(originals) }];
}

/**
 * Undoes a previous rewrite in place, from the previous proxy's env, so re-injection
 * starts from the user's probes (inject twice == inject once). A probe is restored only
 * while it still is exactly our rewrite; one the user changed since is theirs.
 */
export function restoreProbes(spec: PodSpec): void {
  const proxy = [...(spec.initContainers ?? []), ...spec.containers].find(
    (c) => c.name === CONTAINER_NAMES.proxy,
  );
  const json = proxy?.env?.find((e) => e.name === APP_PROBES_ENV)?.value;
  if (json === undefined) return;
  let originals: AppProbes;
  try {
    originals = parseAppProbes(json);
  } catch {
    return; // not ours to understand: leave the probes as they are
  }
  for (const container of spec.containers) {
    for (const [field, kind] of Object.entries(PROBE_KINDS) as [ProbeField, ProbeKind][]) {
      const probe = container[field];
      const original = originals[appProbeKey(container.name, kind)];
      if (probe === undefined || original === undefined) continue;
      const path = appHealthPath(container.name, kind);
      if (probe.httpGet?.port !== PORTS.admin || probe.httpGet.path !== path) continue;
      container[field] = { ...timing(probe), ...handler(original) };
    }
  }
}

function rewritten(probe: Probe, path: string): Probe {
  return { httpGet: { path, port: PORTS.admin, scheme: 'HTTP' }, ...timing(probe) };
}

const HANDLERS: ReadonlySet<string> = new Set(['httpGet', 'tcpSocket', 'exec', 'grpc']);

/** The probe without its handler: delays, period, thresholds, timeout, grace period. */
function timing(probe: Probe): Probe {
  return Object.fromEntries(Object.entries(probe).filter(([key]) => !HANDLERS.has(key)));
}

/**
 * The probe as the proxy runs it, the port resolved to a number; undefined when the
 * kubelet would not dial this pod's port (no handler we run, an explicit host, an
 * unknown port name or scheme).
 */
function appProbe(container: Container, probe: Probe): AppProbe | undefined {
  const timeout =
    probe.timeoutSeconds === undefined ? {} : { timeoutSeconds: probe.timeoutSeconds };
  const { httpGet, tcpSocket } = probe;
  if (httpGet !== undefined && httpGet.host === undefined) {
    const port = resolvePort(container, httpGet.port);
    const scheme = httpGet.scheme;
    if (port === undefined || (scheme !== undefined && scheme !== 'HTTP' && scheme !== 'HTTPS')) {
      return undefined;
    }
    return {
      httpGet: {
        port,
        ...(httpGet.path === undefined ? {} : { path: httpGet.path }),
        ...(scheme === undefined ? {} : { scheme }),
        ...(httpGet.httpHeaders === undefined
          ? {}
          : { httpHeaders: httpGet.httpHeaders.map(({ name, value }) => ({ name, value })) }),
      },
      ...timeout,
    };
  }
  if (tcpSocket !== undefined && tcpSocket.host === undefined) {
    const port = resolvePort(container, tcpSocket.port);
    return port === undefined ? undefined : { tcpSocket: { port }, ...timeout };
  }
  return undefined;
}

/**
 * The user's handler back. A named port comes back as its number (the proxy needs the
 * number); re-injection resolves it to the same number, so the result is the same.
 */
function handler(original: AppProbe): Pick<Probe, 'httpGet' | 'tcpSocket'> {
  const { httpGet, tcpSocket } = original;
  return {
    ...(httpGet === undefined ? {} : { httpGet: { ...httpGet } }),
    ...(tcpSocket === undefined ? {} : { tcpSocket: { ...tcpSocket } }),
  };
}

/**
 * A probe port is an IntOrString: a number, or the name of one of the container's ports
 * (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Probe).
 */
function resolvePort(container: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}
