import { isRecord } from './is-record.js';

/**
 * The app probes the webhook moves into the proxy: with inbound capture, a kubelet probe
 * of a captured port would land on the proxy's inbound listener, need the API key, and
 * say nothing about the app. So, as Istio's injector does (it rewrites them to
 * `:15020/app-health/<container>/livez|readyz|startupz` and passes the originals in
 * `ISTIO_KUBE_APP_PROBERS`), the webhook points such probes at the proxy's admin port,
 * and the proxy runs the original against the app, as the kubelet would have.
 * https://istio.io/latest/docs/ops/configuration/mesh/app-health-check/
 *
 * The webhook writes the originals to the proxy's env as JSON and reads them back on
 * re-injection; the proxy reads them at start. Both use `parseAppProbes`.
 */
export const APP_PROBES_ENV = 'DETOUR_APP_PROBES';
export const APP_HEALTH_PREFIX = '/app-health/';

/** Kubernetes probe field -> the last segment of its `/app-health/` path. */
export const PROBE_KINDS = {
  livenessProbe: 'livez',
  readinessProbe: 'readyz',
  startupProbe: 'startupz',
} as const;
export type ProbeField = keyof typeof PROBE_KINDS;
export type ProbeKind = (typeof PROBE_KINDS)[ProbeField];

/** The part of a Kubernetes probe the proxy runs; the port is resolved to a number. */
export interface AppProbe {
  httpGet?: {
    path?: string;
    port: number;
    host?: string;
    scheme?: 'HTTP' | 'HTTPS';
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number; host?: string };
  timeoutSeconds?: number;
}

/** `<container>/<livez|readyz|startupz>` -> the original probe. */
export type AppProbes = Record<string, AppProbe>;

export function appProbeKey(container: string, kind: ProbeKind): string {
  return `${container}/${kind}`;
}

export function appHealthPath(container: string, kind: ProbeKind): string {
  return `${APP_HEALTH_PREFIX}${appProbeKey(container, kind)}`;
}

/** Throws a plain Error naming the first entry that is not a probe the proxy can run. */
export function parseAppProbes(json: string): AppProbes {
  const parsed: unknown = JSON.parse(json);
  if (!isRecord(parsed)) throw new Error('expected a JSON object of probes');
  const probes: AppProbes = {};
  for (const [key, value] of Object.entries(parsed)) {
    const probe = toProbe(value);
    if (!/^[^/]+\/(livez|readyz|startupz)$/.test(key) || probe === undefined) {
      throw new Error(
        `entry ${JSON.stringify(key)} is not <container>/<livez|readyz|startupz>: probe`,
      );
    }
    probes[key] = probe;
  }
  return probes;
}

function toProbe(value: unknown): AppProbe | undefined {
  if (!isRecord(value)) return undefined;
  const { httpGet, tcpSocket, timeoutSeconds } = value;
  if (timeoutSeconds !== undefined && !isPositiveInteger(timeoutSeconds)) return undefined;
  const timeout = timeoutSeconds === undefined ? {} : { timeoutSeconds };
  if (httpGet !== undefined && tcpSocket !== undefined) return undefined;
  if (httpGet !== undefined) {
    const action = toHttpGet(httpGet);
    return action === undefined ? undefined : { httpGet: action, ...timeout };
  }
  const action = toTcpSocket(tcpSocket);
  return action === undefined ? undefined : { tcpSocket: action, ...timeout };
}

function toHttpGet(value: unknown): AppProbe['httpGet'] {
  if (!isRecord(value)) return undefined;
  const { path, port, host, scheme, httpHeaders } = value;
  if (!isPort(port) || !optional(path, isString) || !optional(host, isString)) return undefined;
  if (scheme !== undefined && scheme !== 'HTTP' && scheme !== 'HTTPS') return undefined;
  if (!optional(httpHeaders, isHeaderList)) return undefined;
  return {
    port,
    ...(path === undefined ? {} : { path }),
    ...(host === undefined ? {} : { host }),
    ...(scheme === undefined ? {} : { scheme }),
    ...(httpHeaders === undefined ? {} : { httpHeaders }),
  };
}

function toTcpSocket(value: unknown): AppProbe['tcpSocket'] {
  if (!isRecord(value)) return undefined;
  const { port, host } = value;
  if (!isPort(port) || !optional(host, isString)) return undefined;
  return { port, ...(host === undefined ? {} : { host }) };
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function isPort(value: unknown): value is number {
  return isPositiveInteger(value) && value <= 65535;
}

function isHeaderList(value: unknown): value is { name: string; value: string }[] {
  return (
    Array.isArray(value) && value.every((h) => isRecord(h) && isString(h.name) && isString(h.value))
  );
}

function optional<T>(value: unknown, check: (v: unknown) => v is T): value is T | undefined {
  return value === undefined || check(value);
}
