/**
 * The words every part of the data plane uses for where a request stands: the proxy's
 * mode, the direction of a call, and the pod a sidecar serves. Types (and the modes'
 * names), in a module of their own so that the pipeline, the policies and the log can share them without
 * importing each other.
 */
export const PROXY_MODES = ['sidecar', 'gateway'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

/** `outbound`: the app's own calls; `inbound`: calls to the app (enforced at the destination). */
export type Direction = 'outbound' | 'inbound';

/** The pod a sidecar sits in (downward API: POD_NAMESPACE, POD_NAME, POD_IP). */
export interface LocalPod {
  readonly namespace: string;
  readonly name: string;
  /** Where the app listens: inbound requests go to podIp:port, the port they came for. */
  readonly podIp: string;
}
