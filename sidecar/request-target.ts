import { isIP } from 'node:net';
/**
 * Request targets and authorities, parsed by hand: `new URL()` per request is costly and
 * the proxy needs only the authority and the rest.
 * https://www.rfc-editor.org/rfc/rfc9112#section-3.2
 */
export interface RequestTarget {
  /** Set for absolute-form (`http://host:port/path`), the form HTTP_PROXY clients send. */
  authority: string | undefined;
  /** Origin-form path with query, `/` when the absolute-form had none. */
  path: string;
}

/**
 * undefined: a target the proxy cannot route (`https://` absolute-form, authority-form,
 * and asterisk-form `OPTIONS *`: it names no path to match, and undici sends only paths
 * that start with `/`, so forwarding it failed as a 502 for the client's input).
 * https://www.rfc-editor.org/rfc/rfc9112#section-3.2.4
 */
export function splitRequestTarget(url: string): RequestTarget | undefined {
  if (url.charCodeAt(0) === 47 /* '/' */) return { authority: undefined, path: url };
  const scheme = url.slice(0, 7).toLowerCase();
  if (scheme !== 'http://') return undefined;
  let end = url.length;
  for (let i = 7; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35 /* / ? # */) {
      end = i;
      break;
    }
  }
  let authority = url.slice(7, end);
  const at = authority.lastIndexOf('@');
  if (at !== -1) authority = authority.slice(at + 1); // userinfo is not part of the host
  if (authority === '') return undefined;
  const rest = url.slice(end);
  const path = rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  return { authority, path };
}

/**
 * `host[:port]` or `[v6][:port]` into name and port (`defaultPort` when the port is
 * absent or empty), or undefined when the authority is not one detour can route or
 * connect to: a Host such as `a/b`, `a?b`, `%zz`, `a:b:c` or `a b` is refused here,
 * before any routing, pool or DNS lookup sees it.
 *
 * Stricter than RFC 3986's reg-name on purpose (no percent-encoding, no sub-delims):
 * the name must be a DNS name or an IP address, the only things a route or an upstream
 * can be. https://www.rfc-editor.org/rfc/rfc3986#section-3.2.2,
 * https://www.rfc-editor.org/rfc/rfc9112#section-3.2 (a Host with an invalid value: 400)
 */
export function parseAuthority(
  authority: string,
  defaultPort: number,
): { name: string; port: number } | undefined {
  let name: string;
  let portText: string;
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf(']');
    if (close === -1) return undefined;
    name = authority.slice(1, close);
    if (!isIPv6(name)) return undefined;
    const rest = authority.slice(close + 1);
    if (rest !== '' && rest.charCodeAt(0) !== 58 /* : */) return undefined;
    portText = rest.slice(1);
  } else {
    const colon = authority.indexOf(':');
    name = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? '' : authority.slice(colon + 1);
    if (!isHostName(name)) return undefined;
  }
  if (portText === '') return { name, port: defaultPort };
  if (portText.length > 5) return undefined;
  let port = 0;
  for (let i = 0; i < portText.length; i++) {
    const c = portText.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    port = port * 10 + c;
  }
  return port >= 1 && port <= 65535 ? { name, port } : undefined;
}

/**
 * A DNS name or a dotted IPv4 address: letters, digits, `-`, `_` and dots, labels of 1 to
 * 63 characters, 253 characters at most (a trailing dot, the FQDN form, is allowed).
 * https://www.rfc-editor.org/rfc/rfc1035#section-2.3.4
 */
function isHostName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > 254) return false;
  let label = 0;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c === 46 /* . */) {
      if (label === 0) return false;
      label = 0;
      continue;
    }
    const ok =
      (c >= 97 && c <= 122) || // a-z
      (c >= 65 && c <= 90) || // A-Z
      (c >= 48 && c <= 57) || // 0-9
      c === 45 || // -
      c === 95; // _
    if (!ok || ++label > 63) return false;
  }
  return n <= 253 || name.charCodeAt(n - 1) === 46;
}

/** A zone id (`fe80::1%eth0`) names an interface of the client's host: never routable. */
function isIPv6(text: string): boolean {
  return !text.includes('%') && isIP(text) === 6;
}
