import type { V1Pod } from '@kubernetes/client-node';
import { STATUS_ANNOTATION } from './labels.js';

/**
 * What a pod's `detour.dev/status` annotation (webhook/injection-status.ts writes it)
 * says about inbound capture: `enforce` with the captured app ports, or `off`. The
 * controller reads it to decide whether a route's endpoints enforce at the destination
 * (`enforcedAt: destination`): a route to port P is enforced there only when every
 * endpoint pod says `enforce` and lists P (DESIGN.md "Enforce at the destination").
 *
 * Here rather than in the webhook: shared code never imports a command's folder.
 */
export type InboundStatus = { mode: 'enforce'; ports: number[] } | { mode: 'off' };

/**
 * The inbound part of a pod's status annotation. Pods injected before inbound existed
 * (no `inbound` key), pods without a status and unreadable statuses are `off`: nothing
 * is enforced at their door, so a route falls back to the caller's checks.
 */
export function readInboundStatus(
  annotations: Readonly<Record<string, string>> | undefined,
): InboundStatus {
  const raw = annotations?.[STATUS_ANNOTATION];
  if (raw === undefined) return { mode: 'off' };
  try {
    return toInboundStatus((JSON.parse(raw) as { inbound?: unknown } | null)?.inbound);
  } catch {
    return { mode: 'off' };
  }
}

export function toInboundStatus(value: unknown): InboundStatus {
  if (typeof value !== 'object' || value === null) return { mode: 'off' };
  const { mode, ports } = value as { mode?: unknown; ports?: unknown };
  if (mode !== 'enforce' || !Array.isArray(ports)) return { mode: 'off' };
  return {
    mode: 'enforce',
    ports: ports.filter((p): p is number => Number.isInteger(p) && p >= 1 && p <= 65535),
  };
}

/** The app ports a pod's own sidecar enforces inbound (empty: none). */
export function inboundEnforcedPorts(pod: V1Pod): ReadonlySet<number> {
  const status = readInboundStatus(pod.metadata?.annotations);
  return status.mode === 'enforce' ? new Set(status.ports) : NONE;
}

const NONE: ReadonlySet<number> = new Set();
