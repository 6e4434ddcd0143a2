import net from 'node:net';
import type { CaptureSettings, PortRange } from '../../shared/capture-settings.js';

/**
 * The traffic-capture rules of a pod, as an `iptables-restore` payload for the `nat`
 * table. A pure function of the capture settings, so every configuration is a golden
 * file (test/testdata/iptables/); iptables-apply.ts only executes the result.
 *
 * The payload is applied with `iptables-restore --noflush`: the tables and chains of
 * others survive, and our own chains, declared with `:CHAIN - [0:0]`, are flushed and
 * refilled in one atomic commit, so running `detour init` twice leaves the same rules.
 * The one rule outside our chains, the jump from OUTPUT, is dropped from the payload by
 * `withoutExistingJump` when a previous run already installed it.
 *
 * Order inside DETOUR_OUTPUT, first match wins:
 *   1. the proxy's own traffic (its UID) is never captured, or it would loop;
 *   2. excluded destination CIDRs;
 *   3. DNS (UDP and TCP port 53) to the proxy's DNS server, loopback resolvers included;
 *   4. anything else leaving through `lo` (127.0.0.0/8, ::1, the pod's own IPs);
 *   5. excluded destination ports;
 *   6. TCP to the VIP range (any port) and to the capture ports, to the outbound port.
 *
 * Inbound (`--inbound P=L,...`, DESIGN.md "Enforce at the destination"): DETOUR_INBOUND,
 * hooked into PREROUTING, redirects TCP to each app port P to the proxy's listener L.
 * PREROUTING only sees packets that arrive from outside the pod; the proxy's own
 * connection to the app (pod-IP:P, as UID 1337) is locally generated, so it goes
 * OUTPUT -> lo -> INPUT, and its nat decision was already taken in OUTPUT (where rule 1
 * or 4 returns it), so it is never redirected back to the proxy. The owner match that
 * guards outbound cannot be used here anyway: it is only valid in OUTPUT/POSTROUTING.
 * (Istio's ISTIO_INBOUND works the same way; it needs a single listener, 15006, only
 * because Envoy reads SO_ORIGINAL_DST.)
 */
export const CHAINS = {
  output: 'DETOUR_OUTPUT',
  redirect: 'DETOUR_REDIRECT',
  inbound: 'DETOUR_INBOUND',
} as const;

/** The jump that hooks our chain into the built-in OUTPUT chain. */
export const OUTPUT_JUMP = `-A OUTPUT -j ${CHAINS.output}`;
/** The jump that hooks the inbound chain into PREROUTING (only with `--inbound`). */
export const INBOUND_JUMP = `-A PREROUTING -j ${CHAINS.inbound}`;

/**
 * The multiport match takes at most 15 ports per rule, a range counting as two
 * (iptables-extensions(8), "multiport": "Up to 15 ports can be specified. A port range
 * (port:port) counts as two ports.").
 */
export const MULTIPORT_LIMIT = 15;

const ALL_PORTS: PortRange = { from: 1, to: 65535 };

export function buildIptablesPayload(settings: CaptureSettings, family: 4 | 6): string {
  const out = `-A ${CHAINS.output}`;
  const inbound = settings.inbound.length > 0;
  const lines: string[] = [
    `# detour init: ${inbound ? 'outbound and inbound' : 'outbound'} traffic capture (IPv${family}), applied with ${family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush`,
    '*nat',
    `:${CHAINS.output} - [0:0]`,
    `:${CHAINS.redirect} - [0:0]`,
    ...(inbound ? [`:${CHAINS.inbound} - [0:0]`] : []),
    `-A ${CHAINS.redirect} -p tcp -j REDIRECT --to-ports ${settings.outboundPort}`,
    `${out} -m owner --uid-owner ${settings.proxyUid} -j RETURN`,
  ];

  for (const cidr of settings.excludeOutboundCidrs) {
    if (cidrFamily(cidr) === family) lines.push(`${out} -d ${cidr} -j RETURN`);
  }

  if (capturesDns(settings, family)) {
    for (const proto of ['udp', 'tcp']) {
      lines.push(`${out} -p ${proto} --dport 53 -j REDIRECT --to-ports ${settings.dnsPort}`);
    }
  }

  lines.push(`${out} -o lo -j RETURN`);

  for (const ports of multiportGroups(settings.excludeOutboundPorts)) {
    lines.push(`${out} -p tcp -m multiport --dports ${ports} -j RETURN`);
  }

  // The VIP range only exists for IPv4: the DNS server hands out A records only.
  if (family === 4) {
    lines.push(`${out} -d ${settings.vipCidr} -p tcp -j ${CHAINS.redirect}`);
  }

  if (settings.capturePorts.some((r) => covers(r, ALL_PORTS))) {
    lines.push(`${out} -p tcp -j ${CHAINS.redirect}`);
  } else {
    for (const ports of multiportGroups(settings.capturePorts)) {
      lines.push(`${out} -p tcp -m multiport --dports ${ports} -j ${CHAINS.redirect}`);
    }
  }

  lines.push(OUTPUT_JUMP);

  // One rule per port: each app port has a listener of its own (shared/inbound-ports.ts).
  for (const { appPort, listenerPort } of settings.inbound) {
    lines.push(
      `-A ${CHAINS.inbound} -p tcp --dport ${appPort} -j REDIRECT --to-ports ${listenerPort}`,
    );
  }
  if (inbound) lines.push(INBOUND_JUMP);

  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * DNS capture needs the DNS server to answer from the address REDIRECT rewrote to
 * (DESIGN.md, "Traps"); it listens on 127.0.0.1 only, so only IPv4 queries are
 * redirected. Excluding port 53 explicitly turns DNS capture off as well: an exclusion
 * the user wrote wins over a default.
 */
function capturesDns(settings: CaptureSettings, family: 4 | 6): boolean {
  if (!settings.dnsCapture || family !== 4) return false;
  return !settings.excludeOutboundPorts.some((r) => r.from <= 53 && 53 <= r.to);
}

/** Port lists for `-m multiport --dports`, each within MULTIPORT_LIMIT, ranges as `a:b`. */
export function multiportGroups(ranges: readonly PortRange[]): string[] {
  const groups: string[] = [];
  let items: string[] = [];
  let weight = 0;
  for (const r of ranges) {
    const cost = r.from === r.to ? 1 : 2;
    if (weight + cost > MULTIPORT_LIMIT) {
      groups.push(items.join(','));
      items = [];
      weight = 0;
    }
    items.push(r.from === r.to ? String(r.from) : `${r.from}:${r.to}`);
    weight += cost;
  }
  if (items.length > 0) groups.push(items.join(','));
  return groups;
}

function covers(outer: PortRange, inner: PortRange): boolean {
  return outer.from <= inner.from && inner.to <= outer.to;
}

function cidrFamily(cidr: string): number {
  return net.isIP(cidr.split('/')[0] ?? '');
}

/**
 * The payload without the jumps (from OUTPUT, and from PREROUTING) that `iptablesSave`
 * (the current `iptables-save -t nat`) already has. Our own chains are flushed by the
 * restore, but the built-in chains are not ours to flush, so a second `-A` would add a
 * second jump.
 */
export function withoutExistingJump(payload: string, iptablesSave: string): string {
  const saved = new Set(iptablesSave.split('\n').map((line) => line.trim()));
  const installed = [OUTPUT_JUMP, INBOUND_JUMP].filter((jump) => saved.has(jump));
  if (installed.length === 0) return payload;
  // A comment in its place keeps the line numbers iptables-restore reports in errors.
  return payload
    .split('\n')
    .map((line) => (installed.includes(line) ? `# already installed: ${line}` : line))
    .join('\n');
}
