import type { V1Pod } from '@kubernetes/client-node';
import { STATUS_ANNOTATION } from './labels.js';

/**
 * Whether a pod's own sidecar enforces inbound, read from the injector's
 * `detour.dev/status` annotation (webhook/injection-status.ts writes it). The contract:
 * `"inbound": {"mode": "enforce", "ports": [8080, 9090]}`; absent, `mode: "off"` or
 * anything unreadable means not enforced, so a route falls back to the caller's checks
 * (DESIGN.md "Enforce at the destination").
 *
 * Read here rather than through the webhook's reader: shared code never imports a
 * command's folder, and the compiler needs only this field.
 */
export function inboundEnforcedPorts(pod: V1Pod): ReadonlySet<number> {
  const raw = pod.metadata?.annotations?.[STATUS_ANNOTATION];
  if (raw === undefined) return NONE;
  let status: unknown;
  try {
    status = JSON.parse(raw);
  } catch {
    return NONE;
  }
  const inbound = isRecord(status) ? status.inbound : undefined;
  if (!isRecord(inbound) || inbound.mode !== 'enforce' || !Array.isArray(inbound.ports)) {
    return NONE;
  }
  return new Set(inbound.ports.filter((p): p is number => Number.isInteger(p)));
}

const NONE: ReadonlySet<number> = new Set();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
