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

/** undefined: a target the proxy cannot route (`https://` absolute-form, authority-form). */
export function splitRequestTarget(url: string): RequestTarget | undefined {
  if (url.charCodeAt(0) === 47 /* '/' */) return { authority: undefined, path: url };
  if (url === '*') return { authority: undefined, path: '*' };
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

/** `host[:port]` or `[v6][:port]` into name and port (`fallback` when absent or bad). */
export function splitAuthority(
  authority: string,
  fallback: number,
): { name: string; port: number } {
  let name = authority;
  let portText = '';
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    name = authority.slice(1, close === -1 ? undefined : close);
    if (close !== -1 && authority[close + 1] === ':') portText = authority.slice(close + 2);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon !== -1 && authority.indexOf(':') === colon) {
      name = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    }
  }
  const port = Number(portText);
  const valid = /^\d{1,5}$/.test(portText) && port >= 1 && port <= 65535;
  return { name, port: valid ? port : fallback };
}
