import net from 'node:net';
import {
  defaultCaptureSettings,
  parseBoolean,
  parseCidr,
  parseCidrList,
  parsePortList,
  parseUid,
  type CaptureSettings,
} from '../../shared/capture-settings.js';
import { BadFlagError, errorMessage } from '../../shared/errors.js';
import { parseInboundMap } from '../../shared/inbound-ports.js';
import { parseFlags, portFlag } from '../../shared/cli-flags.js';
import { IPTABLES_MODES, type IptablesMode } from './iptables-backend.js';

export interface InitOptions {
  settings: CaptureSettings;
  dryRun: boolean;
  /** `auto` detects legacy vs nft; the others force one. */
  iptablesMode: IptablesMode | 'auto';
  /** `auto` applies the IPv6 payload when ip6tables works in this namespace. */
  ipv6: 'auto' | 'true' | 'false';
  help: boolean;
}

export const INIT_USAGE = `usage: detour init [flags]

Installs the traffic-capture rules in the pod's network namespace (run as the
init container, with NET_ADMIN and NET_RAW), then exits. The webhook renders the flags.

  --capture-ports LIST          TCP ports captured to the proxy (default 80; '*' = all)
  --exclude-outbound-ports LIST ports never captured (80,8000-8100)
  --exclude-outbound-cidrs LIST destination CIDRs never captured
  --dns-capture true|false      redirect port 53 to the proxy's DNS server (default true)
  --proxy-uid UID               the proxy's UID, never captured (default 1337)
  --vip-cidr CIDR               virtual IPs of route hosts, all ports captured (240.240.0.0/16)
  --outbound-port PORT          the proxy's outbound listener (default 15001)
  --dns-port PORT               the proxy's DNS server (default 15053)
  --inbound P=L,...             redirect inbound TCP to app port P to proxy listener L
                                (nat PREROUTING; default none: inbound not captured)
  --iptables-mode auto|legacy|nft  which iptables backend (default auto: detect)
  --ipv6 auto|true|false        also apply the IPv6 rules (default auto: when available)
  --dry-run                     print the iptables-restore payload(s) and change nothing
`;

/** Parses `detour init` flags back into the CaptureSettings the webhook rendered them from. */
export function parseInitFlags(argv: string[]): InitOptions {
  const { values, help } = parseFlags(argv, {
    'capture-ports': { type: 'string' },
    'exclude-outbound-ports': { type: 'string' },
    'exclude-outbound-cidrs': { type: 'string' },
    'dns-capture': { type: 'string' },
    'proxy-uid': { type: 'string' },
    'vip-cidr': { type: 'string' },
    'outbound-port': { type: 'string' },
    'dns-port': { type: 'string' },
    inbound: { type: 'string' },
    'iptables-mode': { type: 'string' },
    ipv6: { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  const defaults = defaultCaptureSettings();
  const settings: CaptureSettings = {
    ...defaults,
    capturePorts: flag(values, 'capture-ports', parsePortList, defaults.capturePorts),
    excludeOutboundPorts: flag(values, 'exclude-outbound-ports', parsePortList, []),
    excludeOutboundCidrs: flag(values, 'exclude-outbound-cidrs', parseCidrList, []),
    dnsCapture: flag(values, 'dns-capture', parseBoolean, defaults.dnsCapture),
    proxyUid: flag(values, 'proxy-uid', parseUid, defaults.proxyUid),
    vipCidr: flag(values, 'vip-cidr', parseIpv4Cidr, defaults.vipCidr),
    outboundPort: portFlag('--outbound-port', values['outbound-port'], defaults.outboundPort),
    dnsPort: portFlag('--dns-port', values['dns-port'], defaults.dnsPort),
    inbound: flag(values, 'inbound', parseInboundMap, defaults.inbound),
  };
  return {
    settings,
    dryRun: values['dry-run'] === true,
    iptablesMode: flag(values, 'iptables-mode', oneOf(['auto', ...IPTABLES_MODES]), 'auto'),
    ipv6: flag(values, 'ipv6', oneOf(['auto', 'true', 'false']), 'auto'),
    help,
  };
}

function flag<T>(
  values: Record<string, string | boolean | undefined>,
  name: string,
  parse: (text: string) => T,
  fallback: T,
): T {
  const value = values[name];
  if (value === undefined) return fallback;
  const text = String(value);
  try {
    return parse(text);
  } catch (err) {
    throw new BadFlagError(`--${name}`, text, errorMessage(err));
  }
}

function parseIpv4Cidr(text: string): string {
  const cidr = parseCidr(text.trim());
  if (net.isIPv4(cidr.split('/')[0] ?? '')) return cidr;
  throw new Error('the VIP range must be an IPv4 CIDR (the DNS server answers A records)');
}

function oneOf<T extends string>(allowed: readonly T[]): (text: string) => T {
  return (text) => {
    const value = text.trim() as T;
    if (!allowed.includes(value)) throw new Error(`expected one of ${allowed.join(', ')}`);
    return value;
  };
}
