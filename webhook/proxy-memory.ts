import { parseQuantity } from './quantity.js';

/**
 * The proxy's memory request and the lowest limit detour accepts, from what
 * `npm run bench -- proxy` measures of the injected proxy (issue 13; README,
 * Benchmarks): about 80 MB of RSS idle, about 115 MB after a minute of 50 connections,
 * about 120 MB with 10,000 routes from the kube source. The request covers a busy
 * proxy; the minimum limit adds headroom over the 10,000-route figure under load,
 * because below it the kernel OOM-kills the proxy (and with it the pod's traffic) long
 * before V8's own heap cap (PROXY_NODE_OPTIONS) would make it collect harder.
 */
export const PROXY_MEMORY_REQUEST = '128Mi';
export const PROXY_MEMORY_LIMIT_MIN = '192Mi';

/**
 * Throws when `bytes` is below PROXY_MEMORY_LIMIT_MIN: such a limit gets the proxy
 * OOM-killed under ordinary load. Callers name the annotation or knob.
 */
export function atLeastMinimumLimit(bytes: number): void {
  if (bytes < parseQuantity(PROXY_MEMORY_LIMIT_MIN)) {
    throw new Error(
      `below the proxy's minimum memory limit ${PROXY_MEMORY_LIMIT_MIN} (what it uses with many routes under load, with headroom; README, Benchmarks)`,
    );
  }
}
