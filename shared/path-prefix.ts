/**
 * Paths as detour compares them. Route paths (from `PORT:PATH` annotations) and request
 * paths go through the same normalisation, so that what a user wrote and what a client
 * sent meet in one form; the request is still forwarded with the path it came with
 * (the path is never rewritten).
 *
 * The normalisation follows nginx's location matching, which the seed router relied on:
 * - the query and fragment are not part of the path
 *   (https://www.rfc-editor.org/rfc/rfc3986#section-3.3);
 * - runs of `/` count as one (nginx `merge_slashes on`, its default);
 * - `.` and `..` segments are resolved
 *   (https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4), so `/a/../b` cannot select
 *   the route of `/a`;
 * - percent-encoded unreserved characters are decoded, and other escapes upper-cased
 *   (https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2); `%2F` stays an escape, so it
 *   never becomes a segment boundary;
 * - a trailing `/` is dropped except for the root, so `/nodejs/` and `/nodejs` are one
 *   route.
 */

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Normalised form of a path (with or without `?query`/`#fragment`); always starts with `/`. */
export function normalisePath(raw: string): string {
  // One scan finds the end of the path and whether it needs any work: the proxy calls
  // this on every request, and most request paths are already normal.
  let end = raw.length;
  let clean = raw.charCodeAt(0) === SLASH;
  let previous = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === QUESTION || c === HASH) {
      end = i;
      break;
    }
    if (c === PERCENT || (previous === SLASH && (c === SLASH || c === DOT))) clean = false;
    previous = c;
  }
  if (end > 1 && previous === SLASH) clean = false;
  const path = end === raw.length ? raw : raw.slice(0, end);
  if (clean) return path;
  return slowNormalise(path.startsWith('/') ? path : '/' + path);
}

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;
const QUESTION = 63;
const HASH = 35;

function slowNormalise(input: string): string {
  const path = input.includes('%') ? normaliseEscapes(input) : input;
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return '/' + out.join('/');
}

function normaliseEscapes(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/**
 * Whether `prefix` (normalised) is a prefix of `path` (normalised) by whole segments:
 * `/nodejs` matches `/nodejs` and `/nodejs/x`, not `/nodejsfoo`; `/` matches every path.
 * This is Envoy's `path_separated_prefix` and the Gateway API's `PathPrefix`
 * (https://gateway-api.sigs.k8s.io/reference/spec/#httppathmatch).
 */
export function isSegmentPrefix(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
}

/**
 * The segment-wise prefixes of a normalised path, longest first, ending with `/`:
 * `/a/b` -> `/a/b`, `/a`, `/`. A lookup walks these against an exact map, so matching
 * costs one map probe per segment whatever the number of routes.
 */
export function* segmentPrefixes(path: string): Generator<string> {
  let end = path.length;
  while (end > 1) {
    yield path.slice(0, end);
    end = path.lastIndexOf('/', end - 1);
  }
  yield '/';
}
