import { HOP_BY_HOP } from '../shared/http-fields.js';

/**
 * Header rewriting between the client and the upstream, done in one pass over Node's
 * `rawHeaders` so the hot path never builds `req.headers`.
 *
 * Hop-by-hop headers belong to one connection and are not forwarded, nor are the headers
 * a `Connection` header names (https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1).
 * undici refuses `transfer-encoding`, `keep-alive`, `upgrade` and `expect` outright, and
 * frames the body itself from `content-length` or chunked encoding.
 */

/**
 * Request headers never forwarded as they came: hop-by-hop ones, `expect` (undici refuses
 * it), and those the proxy rewrites (`host` is re-added, absolute-form winning; the
 * X-Forwarded-*, request id and source fields are re-added by addProxyHeaders).
 */
const REQUEST_DROP = new Set([
  ...HOP_BY_HOP,
  'expect',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'x-detour-source-namespace',
  'x-detour-source-pod',
]);

const RESPONSE_DROP = HOP_BY_HOP;

/**
 * Who calls, as the caller's sidecar asserts it to the destination (for ApiPolicy rate
 * limits and the auth service). An app's own copies are dropped; unauthenticated until
 * mTLS, so a caller without a sidecar can claim anything.
 */
export const SOURCE_NAMESPACE_HEADER = 'x-detour-source-namespace';
export const SOURCE_POD_HEADER = 'x-detour-source-pod';

/** Counts proxies a request went through; a routing loop shows up as a growing count. */
export const HOPS_HEADER = 'x-detour-hops';
export const DEFAULT_MAX_HOPS = 10;

/** What the proxy needs from the request headers, read in the same pass. */
export interface ScannedRequest {
  /** Host header as sent (case and port kept), '' when absent. */
  host: string;
  requestId: string | undefined;
  forwardedFor: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  hops: number;
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** Value of the API-key header (the plane's `API_KEY_HEADER`), if sent. */
  apiKey: string | undefined;
  /** Lower-cased `Upgrade` header value, if any (e.g. `websocket`). */
  upgrade: string | undefined;
  /** `x-detour-source-namespace` / `-pod` as received (see SOURCE_NAMESPACE_HEADER). */
  sourceNamespace: string | undefined;
  sourcePod: string | undefined;
  /** `Transfer-Encoding` as sent (lines joined with `,`), if any. */
  transferEncoding: string | undefined;
  /**
   * A header that must appear once but came twice (`host` or the API-key header): the
   * request is ambiguous, and two parsers on its path could each pick another copy.
   */
  duplicate: string | undefined;
  /** The remaining end-to-end headers, flat `[name, value, ...]`, ready for undici. */
  forward: string[];
}

/**
 * Splits `rawHeaders` into the facts the proxy acts on and the headers it forwards.
 * `apiKeyHeader` is removed from `forward` and returned in `apiKey`. It is matched as
 * nginx matched it for the seed (`$http_x_routing_api_key`): case-insensitive, with `-`
 * and `_` the same character; pass it through `keyHeaderForm` first.
 */
export function scanRequestHeaders(raw: readonly string[], apiKeyHeader: string): ScannedRequest {
  const scanned: ScannedRequest = {
    host: '',
    requestId: undefined,
    forwardedFor: undefined,
    forwardedProto: undefined,
    forwardedHost: undefined,
    hops: 0,
    contentLength: -1,
    chunked: false,
    apiKey: undefined,
    upgrade: undefined,
    transferEncoding: undefined,
    duplicate: undefined,
    sourceNamespace: undefined,
    sourcePod: undefined,
    forward: [],
  };
  const keyLength = apiKeyHeader.length;
  let sawHost = false;
  let connection: string | undefined;
  const forward = scanned.forward;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (!REQUEST_DROP.has(lower)) {
      if (lower.length === keyLength && keyHeaderForm(lower) === apiKeyHeader) {
        if (scanned.apiKey !== undefined) scanned.duplicate ??= name;
        scanned.apiKey = value;
      } else if (lower === 'content-length') {
        // Node's parser already refused conflicting lengths; keep the first copy only.
        if (scanned.contentLength === -1) {
          scanned.contentLength = Number(value);
          forward.push(name, value);
        }
      } else if (lower === HOPS_HEADER) {
        scanned.hops = Number(value) || 0;
      } else {
        forward.push(name, value);
      }
      continue;
    }
    if (lower === 'host') {
      // Node keeps every Host line in rawHeaders; RFC 9112 §3.2 makes a second one a 400.
      if (sawHost) scanned.duplicate ??= 'host';
      sawHost = true;
      scanned.host = value;
      continue;
    }
    const joined = noteDropped(scanned, lower, value, connection);
    if (joined !== undefined) connection = joined;
  }
  if (connection !== undefined) {
    scanned.forward = dropConnectionListed(forward, connection);
  }
  return scanned;
}

/**
 * The form header names are compared in for the API key: lower case, `_` as `-` (nginx
 * turns both into `_` for `$http_*` variables, so the seed's clients may send either).
 */
export function keyHeaderForm(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

/**
 * True when a `Transfer-Encoding` value is exactly `chunked`: anything else (`gzip,
 * chunked`, `chunked, chunked`, `identity`) would have to be decoded or re-framed, and
 * nginx and Envoy answer 501 to it. https://www.rfc-editor.org/rfc/rfc9112#section-6.1
 */
export function isChunkedAlone(transferEncoding: string): boolean {
  return transferEncoding.trim().toLowerCase() === 'chunked';
}

/** Records a header the proxy does not forward as is; returns the joined Connection value. */
function noteDropped(
  scanned: ScannedRequest,
  lower: string,
  value: string,
  connection: string | undefined,
): string | undefined {
  switch (lower) {
    case 'x-request-id':
      scanned.requestId ??= value;
      return undefined;
    case 'x-forwarded-for':
      scanned.forwardedFor =
        scanned.forwardedFor === undefined ? value : `${scanned.forwardedFor}, ${value}`;
      return undefined;
    case 'x-forwarded-proto':
      scanned.forwardedProto ??= value;
      return undefined;
    case 'x-forwarded-host':
      scanned.forwardedHost ??= value;
      return undefined;
    case 'transfer-encoding':
      scanned.chunked = true;
      scanned.transferEncoding =
        scanned.transferEncoding === undefined ? value : `${scanned.transferEncoding},${value}`;
      return undefined;
    case 'upgrade':
      scanned.upgrade = value.toLowerCase();
      return undefined;
    case SOURCE_NAMESPACE_HEADER:
      scanned.sourceNamespace ??= value;
      return undefined;
    case SOURCE_POD_HEADER:
      scanned.sourcePod ??= value;
      return undefined;
    case 'connection':
      return connection === undefined ? value : `${connection},${value}`;
    default:
      return undefined;
  }
}

/** Names listed in `Connection` other than the common keep-alive/close/upgrade tokens. */
function connectionTokens(connection: string): string[] {
  const tokens: string[] = [];
  for (const token of connection.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'keep-alive' && t !== 'close' && t !== 'upgrade') tokens.push(t);
  }
  return tokens;
}

function dropConnectionListed(flat: string[], connection: string): string[] {
  // The usual values name no header: skip the split on the hot path.
  if (connection === 'keep-alive' || connection === 'close') return flat;
  const tokens = connectionTokens(connection);
  if (tokens.length === 0) return flat;
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!tokens.includes(name.toLowerCase())) out.push(name, flat[i + 1] as string);
  }
  return out;
}

/**
 * Appends the proxy's own headers: Host, X-Forwarded-* (For appended as nginx's
 * `$proxy_add_x_forwarded_for`; Proto and Host kept when an earlier proxy set them),
 * the request id and the incremented hop count.
 */
export function addProxyHeaders(
  scanned: ScannedRequest,
  host: string,
  clientIp: string,
  requestId: string,
  source?: { readonly namespace: string; readonly pod: string },
): string[] {
  const out = scanned.forward;
  if (source !== undefined) {
    out.push(SOURCE_NAMESPACE_HEADER, source.namespace, SOURCE_POD_HEADER, source.pod);
  }
  out.push(
    'host',
    host,
    'x-forwarded-for',
    scanned.forwardedFor === undefined ? clientIp : `${scanned.forwardedFor}, ${clientIp}`,
    'x-forwarded-proto',
    scanned.forwardedProto ?? 'http',
    'x-forwarded-host',
    scanned.forwardedHost ?? host,
    'x-request-id',
    requestId,
    HOPS_HEADER,
    String(scanned.hops + 1),
  );
  return out;
}

/**
 * The upstream's response headers (as undici parsed them, lower-case names) as a flat
 * list for `res.writeHead`, minus hop-by-hop headers; Node re-frames the body.
 */
export function responseHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (RESPONSE_DROP.has(name)) {
      if (name === 'connection') connection = String(value);
      continue;
    }
    if (typeof value === 'string') {
      out.push(name, value);
    } else {
      for (const v of value) out.push(name, v);
    }
  }
  return connection === undefined ? out : dropConnectionListed(out, connection);
}
