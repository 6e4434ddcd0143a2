import type { Container, EnvVar, Probe, Volume } from './pod-types.js';
import type { AppProbes } from '../shared/app-probes.js';
import { toInitArgs } from '../shared/capture-settings.js';
import { formatInboundMap } from '../shared/inbound-ports.js';
import { CONTAINER_NAMES, PORTS } from '../shared/labels.js';
import type { InjectorConfig, ProxyResources } from './injector-config.js';
import type { InjectionSettings } from './injection-settings.js';
import { appProbesEnv } from './probe-rewrite.js';

/** Builders for what the injector adds; plain data, no decisions about placement. */

export const TOKEN_VOLUME = 'detour-token';
// Where client-node's loadFromCluster() looks for the ServiceAccount token.
const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The image's proxy entry point on PATH (Dockerfile, scripts/build/bundles.ts). */
export const PROXY_COMMAND = 'detour-proxy';

/**
 * The proxy's Node flags; `npm run bench -- proxy` runs the proxy with exactly these.
 * - A 2 MB young generation keeps an idle proxy ~6 MB smaller, for ~8 % more GC CPU
 *   under load: one proxy runs in every pod, so memory is the scarcer resource.
 * - An old-generation cap: without one V8 sizes the heap from the node's memory and
 *   lets garbage pile up (a 1-route proxy's heap grew to 60-70 MB after a minute of
 *   load, 145-160 MB of RSS); with any explicit cap it uses its memory-constrained
 *   growth and stays near 30 MB (about 115 MB of RSS), for ~1 µs more GC per request
 *   (--trace-gc; issue 13). 128 MB is well above the live heap with 10,000 routes.
 */
export const PROXY_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=128';

/**
 * glibc's malloc gives threads their own arenas (up to 8 per core), and Node's GC
 * helpers, compiler threads and libuv pool each keep freed memory in theirs: after a
 * soak of 50 connections about 20 MB of the proxy's RSS sat in four thread arenas. Two
 * arenas (the main thread's and one shared) cut the peak by about 7 MB, with one by 11 MB,
 * CPU per request unchanged within noise (issue 13, docs/benchmarks.md). The image is
 * Debian's glibc; musl ignores the variable.
 * https://www.gnu.org/software/libc/manual/html_node/Memory-Allocation-Tunables.html
 */
export const PROXY_MALLOC_ARENA_MAX = '2';

export interface ProxyIdentity {
  uid: number;
  gid: number;
}

export function proxyContainer(
  settings: InjectionSettings,
  config: InjectorConfig,
  identity: ProxyIdentity,
  options: { native: boolean; tokenVolume: boolean; appProbes: AppProbes },
): Container {
  const inbound = settings.capture.inbound;
  const ready: Probe = {
    httpGet: { path: '/ready', port: PORTS.admin },
    periodSeconds: 2,
    timeoutSeconds: 3,
    failureThreshold: 3,
  };
  return {
    name: CONTAINER_NAMES.proxy,
    image: config.image,
    ...pullPolicy(config),
    // The image's proxy-only bundle (issue 13: no webhook, controller or client-node
    // models in every pod); the source defaults to `kube` in a pod. The same --inbound
    // map as detour-init's: one listener per captured app port.
    command: [PROXY_COMMAND],
    args: [
      'proxy',
      '--mode',
      'sidecar',
      ...(inbound.length > 0 ? ['--inbound', formatInboundMap(inbound)] : []),
    ],
    env: [
      downward('POD_NAME', 'metadata.name'),
      downward('POD_NAMESPACE', 'metadata.namespace'),
      // Where the proxy reaches the app: inbound forwarding and app probes dial the pod
      // IP, as the kubelet does (a probe's host defaults to it).
      downward('POD_IP', 'status.podIP'),
      { name: 'NODE_OPTIONS', value: PROXY_NODE_OPTIONS },
      { name: 'MALLOC_ARENA_MAX', value: PROXY_MALLOC_ARENA_MAX },
      ...(settings.logLevel === undefined ? [] : [{ name: 'LOG_LEVEL', value: settings.logLevel }]),
      ...appProbesEnv(options.appProbes),
    ],
    ports: proxyPorts(settings),
    // A native sidecar: an init container that keeps running, started before the app.
    // https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
    ...(options.native ? { restartPolicy: 'Always' } : {}),
    // The startupProbe holds the following init containers (and the app) until the
    // proxy has its first route table, so the app's first call is already routed.
    ...(options.native
      ? { startupProbe: { ...ready, periodSeconds: 1, failureThreshold: 300 } }
      : {}),
    readinessProbe: ready,
    ...resources(settings.resources),
    securityContext: {
      runAsUser: identity.uid,
      runAsGroup: identity.gid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      // What the "restricted" Pod Security Standard asks of every container, so the
      // proxy never is the reason a pod is rejected there (with capture: proxy-env).
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(options.tokenVolume
      ? { volumeMounts: [{ name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true }] }
      : {}),
  };
}

export function initContainer(settings: InjectionSettings, config: InjectorConfig): Container {
  return {
    name: CONTAINER_NAMES.init,
    image: config.image,
    ...pullPolicy(config),
    args: toInitArgs(settings.capture),
    resources: { requests: { cpu: '10m', memory: '32Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      // iptables takes its lock in /run/xtables.lock, so the root FS stays writable,
      // as in Istio's istio-init; the capabilities are the whole privilege.
      readOnlyRootFilesystem: false,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
    },
  };
}

/**
 * With `automountServiceAccountToken: false` nothing mounts a token, but the proxy must
 * still watch RouteTables; this volume is the one the kubelet would have mounted
 * (token, CA, namespace), given to the proxy alone so the app stays without one.
 * https://kubernetes.io/docs/concepts/security/service-accounts/#assign-to-pod
 */
export function tokenVolume(): Volume {
  return {
    name: TOKEN_VOLUME,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [
              {
                path: 'namespace',
                fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
              },
            ],
          },
        },
      ],
    },
  };
}

/**
 * `capture: proxy-env`: no iptables, the app's HTTP client is pointed at the proxy.
 * Loopback and the API server stay direct: the proxy routes HTTP between pods, and a
 * client-go style client talking to the API server must not be sent through it.
 */
export const PROXY_URL = `http://127.0.0.1:${PORTS.outbound}`;
export const NO_PROXY =
  'localhost,127.0.0.1,::1,kubernetes.default.svc,kubernetes.default.svc.cluster.local';

export function proxyEnv(): EnvVar[] {
  return [
    { name: 'HTTP_PROXY', value: PROXY_URL },
    { name: 'http_proxy', value: PROXY_URL },
    { name: 'NO_PROXY', value: NO_PROXY },
    { name: 'no_proxy', value: NO_PROXY },
  ];
}

function proxyPorts(settings: InjectionSettings): Container['ports'] {
  const ports: NonNullable<Container['ports']> = [
    { name: 'detour-admin', containerPort: PORTS.admin, protocol: 'TCP' },
  ];
  if (settings.capture.mode !== 'none') {
    ports.push({ name: 'detour-outbound', containerPort: PORTS.outbound, protocol: 'TCP' });
  }
  if (settings.capture.mode === 'iptables' && settings.capture.dnsCapture) {
    ports.push(
      { name: 'detour-dns-udp', containerPort: PORTS.dns, protocol: 'UDP' },
      { name: 'detour-dns-tcp', containerPort: PORTS.dns, protocol: 'TCP' },
    );
  }
  return ports;
}

function resources(r: ProxyResources): Pick<Container, 'resources'> {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpu !== undefined) requests.cpu = r.cpu;
  if (r.memory !== undefined) requests.memory = r.memory;
  if (r.cpuLimit !== undefined) limits.cpu = r.cpuLimit;
  if (r.memoryLimit !== undefined) limits.memory = r.memoryLimit;
  const out: NonNullable<Container['resources']> = {};
  if (Object.keys(requests).length > 0) out.requests = requests;
  if (Object.keys(limits).length > 0) out.limits = limits;
  return Object.keys(out).length > 0 ? { resources: out } : {};
}

function pullPolicy(config: InjectorConfig): Pick<Container, 'imagePullPolicy'> {
  return config.imagePullPolicy === undefined ? {} : { imagePullPolicy: config.imagePullPolicy };
}

function downward(name: string, fieldPath: string): EnvVar {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}
