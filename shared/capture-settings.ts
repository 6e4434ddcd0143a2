import net from 'node:net';
import { formatInboundMap, type InboundPort } from './inbound-ports.js';
import { PORTS, PROXY_UID } from './labels.js';

/**
 * How a pod's outbound traffic reaches its sidecar. The webhook validates the pod's
 * annotations into this shape and renders it as `detour init` flags; `detour init` parses
 * the flags back into the same shape and builds the iptables payload from it. One parser
 * on both sides means the webhook never renders what init would refuse.
 */
export type CaptureMode = 'iptables' | 'proxy-env' | 'none';
export const CAPTURE_MODES: readonly CaptureMode[] = ['iptables', 'proxy-env', 'none'];

export interface PortRange {
  from: number;
  to: number;
}

export interface CaptureSettings {
  mode: CaptureMode;
  /** Destination TCP ports captured to the proxy (default 80). */
  capturePorts: PortRange[];
  /** Destination ports never captured, even when in capturePorts or the VIP range. */
  excludeOutboundPorts: PortRange[];
  /** Destination CIDRs never captured (normalised, IPv4 or IPv6). */
  excludeOutboundCidrs: string[];
  /** Redirect port-53 UDP/TCP to the proxy's DNS server. */
  dnsCapture: boolean;
  /** Traffic from this UID is the proxy's own and is never captured. */
  proxyUid: number;
  /** Virtual IPs the DNS server hands out for route hosts; all ports to it are captured. */
  vipCidr: string;
  outboundPort: number;
  dnsPort: number;
  /**
   * App ports whose inbound TCP is redirected (nat PREROUTING) to the proxy's inbound
   * listeners; empty when inbound capture is off (inbound-ports.ts).
   */
  inbound: InboundPort[];
}

export const DEFAULT_VIP_CIDR = '240.240.0.0/16';

export function defaultCaptureSettings(): CaptureSettings {
  return {
    mode: 'iptables',
    capturePorts: [{ from: 80, to: 80 }],
    excludeOutboundPorts: [],
    excludeOutboundCidrs: [],
    dnsCapture: true,
    proxyUid: PROXY_UID,
    vipCidr: DEFAULT_VIP_CIDR,
    outboundPort: PORTS.outbound,
    dnsPort: PORTS.dns,
    inbound: [],
  };
}

/**
 * Parsers throw a plain Error whose message is the reason; callers wrap it into the
 * error that names their field (BadAnnotationError in the webhook, BadFlagError in init).
 */
export function parseCaptureMode(value: string): CaptureMode {
  const mode = value.trim() as CaptureMode;
  if (!CAPTURE_MODES.includes(mode)) {
    throw new Error(`expected one of ${CAPTURE_MODES.join(', ')}`);
  }
  return mode;
}

/** `80`, `80,8080`, `8000-8100`, `*` (all ports); spaces allowed after commas. */
export function parsePortList(value: string): PortRange[] {
  const text = value.trim();
  if (text === '') return [];
  if (text === '*') return [{ from: 1, to: 65535 }];
  const ranges: PortRange[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    if (match === null) {
      throw new Error(`${JSON.stringify(item)} is not a port or a range like 8000-8100`);
    }
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (from < 1 || to > 65535 || from > to) {
      throw new Error(`${JSON.stringify(item)} is outside 1-65535 or reversed`);
    }
    ranges.push({ from, to });
  }
  return ranges;
}

export function formatPortList(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}

/** Comma-separated CIDRs (or bare addresses, taken as /32 or /128), normalised. */
export function parseCidrList(value: string): string[] {
  const text = value.trim();
  if (text === '') return [];
  return text.split(',').map((raw) => parseCidr(raw.trim()));
}

export function parseCidr(item: string): string {
  const [address = '', prefixText, extra] = item.split('/');
  const family = net.isIP(address);
  if (family === 0 || extra !== undefined) {
    throw new Error(`${JSON.stringify(item)} is not an IPv4 or IPv6 CIDR`);
  }
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefixText !== undefined && (!/^\d{1,3}$/.test(prefixText) || prefix > max)) {
    throw new Error(`${JSON.stringify(item)} has a prefix length outside 0-${max}`);
  }
  return `${address.toLowerCase()}/${prefix}`;
}

export function parseBoolean(value: string): boolean {
  const text = value.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new Error('expected "true" or "false"');
}

export function parseUid(value: string): number {
  const text = value.trim();
  const uid = Number(text);
  if (!/^\d+$/.test(text) || uid > 2 ** 31 - 1) {
    throw new Error('expected a numeric UID');
  }
  return uid;
}

/** The `detour init` flags that reproduce these settings (rendered by the webhook). */
export function toInitArgs(s: CaptureSettings): string[] {
  return [
    'init',
    '--capture-ports',
    formatPortList(s.capturePorts),
    ...(s.excludeOutboundPorts.length > 0
      ? ['--exclude-outbound-ports', formatPortList(s.excludeOutboundPorts)]
      : []),
    ...(s.excludeOutboundCidrs.length > 0
      ? ['--exclude-outbound-cidrs', s.excludeOutboundCidrs.join(',')]
      : []),
    '--dns-capture',
    String(s.dnsCapture),
    '--proxy-uid',
    String(s.proxyUid),
    '--vip-cidr',
    s.vipCidr,
    '--outbound-port',
    String(s.outboundPort),
    '--dns-port',
    String(s.dnsPort),
    ...(s.inbound.length > 0 ? ['--inbound', formatInboundMap(s.inbound)] : []),
  ];
}
