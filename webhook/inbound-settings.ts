import type { Container } from './pod-types.js';
import { parseBoolean, parsePortList, type CaptureMode } from '../shared/capture-settings.js';
import { BadAnnotationError } from '../shared/errors.js';
import { assignListeners, MAX_INBOUND_PORTS, type InboundPort } from '../shared/inbound-ports.js';
import { ANNOTATIONS } from '../shared/labels.js';
import type { AnnotationReader } from './annotation-reader.js';

/**
 * Inbound capture (DESIGN.md, "Enforce at the destination"): which of the pod's own
 * ports the proxy captures. iptables does the capturing, so inbound is only possible
 * with `capture: iptables`, where it is on by default.
 */
export type InboundMode = 'enforce' | 'off';

export interface InboundSettings {
  mode: InboundMode;
  /** Captured app ports and their listeners; empty when off. */
  ports: InboundPort[];
  /** Move the app's probes of captured ports to the proxy (`rewrite-probes`). */
  rewriteProbes: boolean;
}

export function readInboundSettings(
  read: AnnotationReader,
  annotations: Readonly<Record<string, string>>,
  appContainers: readonly Container[],
  capture: CaptureMode,
): InboundSettings {
  const mode = read(ANNOTATIONS.inbound, parseInboundMode);
  if (mode === 'enforce' && capture !== 'iptables') {
    throw new BadAnnotationError(
      ANNOTATIONS.inbound,
      annotations[ANNOTATIONS.inbound] ?? '',
      `needs ${ANNOTATIONS.capture}: iptables (inbound capture is done by iptables; capture is ${capture})`,
    );
  }
  // Read even when off, so a malformed value is refused rather than silently ignored.
  const listed = read(ANNOTATIONS.inboundPorts, listedPorts);
  const excluded = read(ANNOTATIONS.excludeInboundPorts, parsePortList) ?? [];
  const rewriteProbes = read(ANNOTATIONS.rewriteProbes, parseBoolean) ?? true;
  if ((mode ?? (capture === 'iptables' ? 'enforce' : 'off')) === 'off') {
    return { mode: 'off', ports: [], rewriteProbes };
  }

  const wanted = listed ?? declaredTcpPorts(appContainers);
  const ports = wanted.filter((p) => !excluded.some((r) => r.from <= p && p <= r.to));
  try {
    return { mode: 'enforce', ports: assignListeners(ports), rewriteProbes };
  } catch (err) {
    // Only the default can get here (a listed value was checked whole when read):
    // name the annotation that would change it, with the ports it came to.
    throw new BadAnnotationError(
      ANNOTATIONS.inboundPorts,
      ports.join(','),
      `${(err as Error).message} (not set: every TCP containerPort of the app containers; set it, ${ANNOTATIONS.excludeInboundPorts}, or ${ANNOTATIONS.inbound}: off)`,
    );
  }
}

function parseInboundMode(value: string): InboundMode {
  const mode = value.trim();
  if (mode === 'enforce' || mode === 'off') return mode;
  throw new Error('expected enforce or off');
}

/**
 * `8080, 9090`, ranges `9000-9010`: single ports in the order written, without repeats.
 * Checked whole (detour's range, at most 64) before any exclusion, so the refusal
 * quotes what the user wrote; a range is measured before it is expanded, so `*` costs
 * nothing.
 */
function listedPorts(value: string): number[] {
  const ports: number[] = [];
  for (const range of parsePortList(value)) {
    if (range.to - range.from + 1 > MAX_INBOUND_PORTS) {
      throw new Error(`more than ${MAX_INBOUND_PORTS} ports (one proxy listener each)`);
    }
    for (let p = range.from; p <= range.to; p++) ports.push(p);
  }
  if (ports.length === 0) {
    throw new Error(`expected at least one port (${ANNOTATIONS.inbound}: off captures none)`);
  }
  const unique = [...new Set(ports)];
  assignListeners(unique);
  return unique;
}

/** Every TCP containerPort of the app containers, in declaration order, de-duplicated. */
function declaredTcpPorts(containers: readonly Container[]): number[] {
  const ports = containers.flatMap((c) =>
    (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort),
  );
  return [...new Set(ports)];
}
