import { normalisePath } from './path-prefix.js';

/**
 * The seed router's two routing annotations, parsed entry by entry. A bad entry is
 * reported with the reason and skipped; the pod's other entries still make routes (the
 * seed's contract: one typo must not take a whole application off the network).
 *
 * - hosts (`privateHosts`/`publicHosts`): space-separated hostnames or IPv4 addresses;
 * - paths (`privatePaths`/`publicPaths`): space-separated `PORT:PATH`, PORT a declared
 *   containerPort of the pod, PATH starting with `/`.
 */

export interface BadEntry {
  /** The entry as written in the annotation. */
  value: string;
  reason: string;
}

export interface ParsedHosts {
  /** Lower-cased, de-duplicated, in annotation order. */
  hosts: string[];
  bad: BadEntry[];
}

export interface PathEntry {
  port: number;
  /** Normalised (shared/path-prefix.ts). */
  path: string;
}

export interface ParsedPaths {
  paths: PathEntry[];
  bad: BadEntry[];
}

/** Stable reasons: tests, logs and `RouteTable.status.skipped` quote them. */
export const REASONS = {
  hostWithPort: 'a host must not carry a port (host match ignores the port)',
  hostWildcard: 'wildcard hosts are not supported',
  hostIPv6: 'IPv6 hosts are not supported (hostnames or IPv4 addresses only)',
  hostBadIPv4: 'not a valid IPv4 address (four decimal octets 0-255, no leading zeros)',
  hostBadName:
    'not a valid hostname (RFC 1123: labels of a-z, 0-9 and -, at most 63 characters each, 253 in all)',
  pathNoPort: 'expected PORT:PATH, e.g. 3000:/nodejs',
  pathBadPort: 'PORT must be a TCP port number, 1-65535',
  pathUndeclaredPort: 'PORT is not a declared containerPort of the pod',
  pathNoSlash: 'PATH must start with /',
  pathQuery: 'PATH must not contain ? or # (a route matches the path only)',
  pathDotSegment: 'PATH must not contain . or .. segments',
  pathBadChar: 'PATH holds a character that is not allowed in a URL path (RFC 3986)',
  pathBadEscape: 'PATH holds a % that does not start a %XX escape',
  pathTooLong: 'PATH is longer than 2048 characters',
  missingHosts: 'the pod has paths but no hosts annotation: no route',
  missingPaths: 'the pod has hosts but no paths annotation: no route',
} as const;

const MAX_PATH_LENGTH = 2048;
const IPV4_LIKE = /^[0-9.]+$/;
const IPV4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
// https://datatracker.ietf.org/doc/html/rfc1123#page-13 (the DNS-1123 label of Kubernetes)
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// https://www.rfc-editor.org/rfc/rfc3986#section-3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

/** Splits an annotation value on any run of whitespace (spaces, tabs, newlines). */
export function splitEntries(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(/\s+/).filter((entry) => entry !== '');
}

export function parseHosts(value: string | undefined): ParsedHosts {
  const hosts: string[] = [];
  const bad: BadEntry[] = [];
  for (const entry of splitEntries(value)) {
    const reason = hostProblem(entry);
    if (reason !== undefined) {
      bad.push({ value: entry, reason });
      continue;
    }
    const host = entry.toLowerCase().replace(/\.$/, '');
    if (!hosts.includes(host)) hosts.push(host);
  }
  return { hosts, bad };
}

function hostProblem(entry: string): string | undefined {
  if (entry.startsWith('[') || entry.split(':').length > 2) return REASONS.hostIPv6;
  if (entry.includes(':')) return REASONS.hostWithPort;
  if (entry.includes('*')) return REASONS.hostWildcard;
  // A trailing dot (fully qualified) is accepted and dropped, as in the Host header.
  const name = entry.toLowerCase().replace(/\.$/, '');
  if (IPV4_LIKE.test(name)) return isIPv4(name) ? undefined : REASONS.hostBadIPv4;
  if (name.length === 0 || name.length > 253) return REASONS.hostBadName;
  return name.split('.').every((label) => DNS_LABEL.test(label)) ? undefined : REASONS.hostBadName;
}

export function isIPv4(text: string): boolean {
  const octets = text.split('.');
  return octets.length === 4 && octets.every((o) => IPV4_OCTET.test(o) && Number(o) <= 255);
}

/** `declaredPorts`: the containerPorts of the pod; a path on any other port is skipped. */
export function parsePaths(
  value: string | undefined,
  declaredPorts: ReadonlySet<number>,
): ParsedPaths {
  const paths: PathEntry[] = [];
  const bad: BadEntry[] = [];
  for (const entry of splitEntries(value)) {
    const parsed = parsePathEntry(entry, declaredPorts);
    if ('reason' in parsed) {
      bad.push({ value: entry, reason: parsed.reason });
      continue;
    }
    if (!paths.some((p) => p.port === parsed.port && p.path === parsed.path)) paths.push(parsed);
  }
  return { paths, bad };
}

function parsePathEntry(
  entry: string,
  declaredPorts: ReadonlySet<number>,
): PathEntry | { reason: string } {
  const colon = entry.indexOf(':');
  if (colon === -1) return { reason: REASONS.pathNoPort };
  const portText = entry.slice(0, colon);
  const rawPath = entry.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    return { reason: REASONS.pathBadPort };
  }
  if (!declaredPorts.has(port)) return { reason: REASONS.pathUndeclaredPort };
  if (!rawPath.startsWith('/')) return { reason: REASONS.pathNoSlash };
  // The RouteTable CRD's maxLength; far beyond any real route.
  if (rawPath.length > MAX_PATH_LENGTH) return { reason: REASONS.pathTooLong };
  if (/[?#]/.test(rawPath)) return { reason: REASONS.pathQuery };
  if (!PATH_CHARS.test(rawPath)) return { reason: REASONS.pathBadChar };
  if (/%(?![0-9A-Fa-f]{2})/.test(rawPath)) return { reason: REASONS.pathBadEscape };
  if (rawPath.split('/').some((s) => s === '.' || s === '..')) {
    return { reason: REASONS.pathDotSegment };
  }
  return { port, path: normalisePath(rawPath) };
}
