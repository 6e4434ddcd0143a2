/**
 * Every label and annotation key detour reads or writes, in one place. All of detour's
 * own keys live under `detour.dev/`; the routing keys (`privateHosts`, `routable=true`, ...)
 * are the seed router's and are configurable through its env knobs (see plane-config.ts).
 */
export const DOMAIN = 'detour.dev';

/** Namespace label that turns injection on: `detour.dev/injection=enabled`. */
export const INJECTION_LABEL = `${DOMAIN}/injection`;
/** Pod label or annotation `"true"|"false"`; the pod wins over the namespace. */
export const INJECT_KEY = `${DOMAIN}/inject`;
/** Written by the injector: what it added, so injection is idempotent. */
export const STATUS_ANNOTATION = `${DOMAIN}/status`;
/** RouteTables carry the plane they were compiled for. */
export const PLANE_LABEL = `${DOMAIN}/plane`;

/** Pod annotations that tune injection (all `detour.dev/<name>`). */
export const ANNOTATIONS = {
  nativeSidecar: `${DOMAIN}/native-sidecar`,
  capture: `${DOMAIN}/capture`,
  capturePorts: `${DOMAIN}/capture-ports`,
  excludeOutboundPorts: `${DOMAIN}/exclude-outbound-ports`,
  excludeOutboundCidrs: `${DOMAIN}/exclude-outbound-cidrs`,
  dnsCapture: `${DOMAIN}/dns-capture`,
  proxyCpu: `${DOMAIN}/proxy-cpu`,
  proxyMemory: `${DOMAIN}/proxy-memory`,
  proxyCpuLimit: `${DOMAIN}/proxy-cpu-limit`,
  proxyMemoryLimit: `${DOMAIN}/proxy-memory-limit`,
  logLevel: `${DOMAIN}/log-level`,
  inbound: `${DOMAIN}/inbound`,
  inboundPorts: `${DOMAIN}/inbound-ports`,
  excludeInboundPorts: `${DOMAIN}/exclude-inbound-ports`,
  rewriteProbes: `${DOMAIN}/rewrite-probes`,
} as const;

/** kubectl picks this container for `kubectl logs`/`exec` when none is named. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** Namespaces that are never injected, whatever their labels say. */
export const SYSTEM_NAMESPACES: readonly string[] = [
  'kube-system',
  'kube-public',
  'kube-node-lease',
];

/** detour's own namespace (the webhook must never depend on itself to start). */
export const DETOUR_NAMESPACE = process.env.DETOUR_NAMESPACE ?? 'detour-system';

export const CONTAINER_NAMES = { init: 'detour-init', proxy: 'detour-proxy' } as const;

/**
 * Well-known ports of the sidecar (Istio uses 15001/15000/15053 for the same roles).
 * Inbound listeners are `inboundBase + i`, one per captured app port (inbound-ports.ts).
 */
export const PORTS = { outbound: 15001, admin: 15000, dns: 15053, inboundBase: 15100 } as const;

/**
 * The proxy's UID/GID. iptables skips traffic from this UID so the proxy's own outbound
 * connections are not captured again (the same choice and number as Istio's 1337).
 */
export const PROXY_UID = 1337;
