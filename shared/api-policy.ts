import * as z from './zod-mini.js';
import { FIELD_NAME, HOP_BY_HOP } from './http-fields.js';

/**
 * ApiPolicy (detour.dev/v1alpha1, namespaced): API management in the call. The
 * controller compiles each policy inline into the routes of its namespace's RouteTables
 * (`RoutePolicy`, defaults applied), so proxies still watch RouteTables only.
 * DESIGN.md, "ApiPolicy: API management in the call".
 *
 * One schema serves the controller and the file source (an invalid policy is reported
 * and skipped; the rest of the table keeps routing) and mirrors the CRD's, which the API
 * server enforces first.
 */
export const API_POLICY_KIND = 'ApiPolicy';
export const API_POLICY_PLURAL = 'apipolicies';

/**
 * Never set, removed, copied to an auth call or copied back from one: hop-by-hop headers
 * belong to one connection (RFC 9110 §7.6.1), and `host` and the framing headers are the
 * proxy's to write.
 */
export const PROTECTED_HEADERS: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'expect',
  'host',
  'content-length',
]);

const headerName = z.pipe(
  z.pipe(
    z.string().check(z.regex(FIELD_NAME, 'not an HTTP header name')),
    z.transform((name) => name.toLowerCase()),
  ),
  z.string().check(
    z.refine((name) => !PROTECTED_HEADERS.has(name), {
      message: 'a hop-by-hop or framing header cannot be set, removed or copied',
    }),
  ),
);

/** Header values: visible ASCII and tabs/spaces, nothing Node would refuse to send. */
// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const headerValue = z.string().check(
  z.maxLength(8192),
  z.refine((value) => !CONTROL.test(value), {
    message: 'a header value cannot hold control characters',
  }),
);

const headerRules = z.strictObject({
  set: z._default(z.record(headerName, headerValue), {}),
  add: z._default(z.record(headerName, headerValue), {}),
  remove: z._default(z.array(headerName), []),
});

const RATE_UNITS = { second: 1, minute: 60, hour: 3600 } as const;

const rateLimitKey = z.union([
  z.enum(['none', 'source-namespace', 'source-pod', 'api-key']),
  z.pipe(
    z
      .string()
      .check(
        z.regex(new RegExp(`^header:${FIELD_NAME.source.slice(1, -1)}$`), 'expected header:NAME'),
      ),
    z.transform((key) => key.toLowerCase() as `header:${string}`),
  ),
]);

/** An integer in [min, max]. */
const intIn = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));

const forwardAuth = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
  timeoutMs: z._default(intIn(1, 60_000), 500),
  failureMode: z._default(z.enum(['closed', 'open']), 'closed'),
  /** Copied to the auth call; absent: every end-to-end header of the request. */
  requestHeaders: z.optional(z.array(headerName)),
  responseHeaders: z._default(z.array(headerName), []),
  cacheSeconds: z._default(intIn(0, 3600), 0),
});

const rateLimit = z.strictObject({
  requests: intIn(1, 1_000_000_000),
  per: z.enum(['second', 'minute', 'hour']),
  key: z._default(rateLimitKey, 'none'),
});

/**
 * Route hosts are lower-case names or IPv4 addresses without a port; a policy host is
 * compared ignoring case, so any case is accepted, but a port or a wildcard (which
 * would never match) is refused. manifests/base/crd-apipolicy.yaml has the same pattern.
 */
const POLICY_HOST =
  /^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

export const apiPolicySpecSchema = z.strictObject({
  hosts: z.optional(
    z
      .array(
        z.string().check(z.maxLength(253), z.regex(POLICY_HOST, 'not a host name or IPv4 address')),
      )
      .check(z.maxLength(64)),
  ),
  paths: z.optional(
    z.array(z.string().check(z.maxLength(2048), z.startsWith('/'))).check(z.maxLength(64)),
  ),
  planes: z.optional(z.array(z.enum(['private', 'public'])).check(z.minLength(1))),
  forwardAuth: z.optional(forwardAuth),
  rateLimit: z.optional(rateLimit),
  requestHeaders: z.optional(headerRules),
  responseHeaders: z.optional(headerRules),
});

export type ApiPolicySpec = z.input<typeof apiPolicySpecSchema>;
export type HeaderRules = z.output<typeof headerRules>;
export type RateLimitKey = z.output<typeof rateLimitKey>;

/**
 * The policy as a route carries it in a RouteTable: validated, defaults applied, named
 * `namespace/name`. A proxy reading a table checks it against this schema again (a
 * hand-written table in a `file:` source has seen no controller).
 */
export const routePolicySchema = z.strictObject({
  name: z.string().check(z.minLength(1)),
  forwardAuth: z.optional(forwardAuth),
  rateLimit: z.optional(
    z.strictObject({
      requests: intIn(1, 1_000_000_000),
      /** The bucket refills `requests` tokens per this many seconds. */
      windowSeconds: intIn(1, 86_400),
      key: rateLimitKey,
    }),
  ),
  requestHeaders: z.optional(headerRules),
  responseHeaders: z.optional(headerRules),
});

export type RoutePolicy = z.output<typeof routePolicySchema>;

export type PolicyParse =
  { ok: true; selector: PolicySelector; policy: RoutePolicy } | { ok: false; problem: string };

/** Which routes a policy attaches to (compile resolves it against the namespace's routes). */
export interface PolicySelector {
  hosts: string[] | undefined;
  paths: string[] | undefined;
  planes: ('private' | 'public')[];
}

/**
 * Validates one ApiPolicy's spec. `problem` names the field and the value, e.g.
 * `spec.forwardAuth.timeoutMs: Too big: expected number to be <=60000 (got 90000)`.
 * `keyHeader` (the plane's API-key header) may not be touched by header rules either.
 */
export function parseApiPolicy(name: string, spec: unknown, keyHeader: string): PolicyParse {
  const result = apiPolicySpecSchema.safeParse(spec);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined ? '' : issue.path.map(String).join('.');
    const got = issue === undefined ? undefined : valueAt(spec, issue.path);
    return {
      ok: false,
      problem: `spec.${where}: ${issue?.message ?? 'invalid'}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`,
    };
  }
  const s = result.data;
  const key = keyHeader.toLowerCase();
  for (const [field, rules] of [
    ['requestHeaders', s.requestHeaders],
    ['responseHeaders', s.responseHeaders],
  ] as const) {
    if (rules === undefined) continue;
    const names = [...Object.keys(rules.set), ...Object.keys(rules.add), ...rules.remove];
    if (names.includes(key)) {
      return { ok: false, problem: `spec.${field}: the API-key header ${key} cannot be touched` };
    }
  }
  const policy: RoutePolicy = { name };
  if (s.forwardAuth !== undefined) policy.forwardAuth = s.forwardAuth;
  if (s.rateLimit !== undefined) {
    policy.rateLimit = {
      requests: s.rateLimit.requests,
      windowSeconds: RATE_UNITS[s.rateLimit.per],
      key: s.rateLimit.key,
    };
  }
  if (s.requestHeaders !== undefined) policy.requestHeaders = s.requestHeaders;
  if (s.responseHeaders !== undefined) policy.responseHeaders = s.responseHeaders;
  return {
    ok: true,
    policy,
    selector: {
      hosts: s.hosts?.map((h) => h.toLowerCase()),
      paths: s.paths,
      planes: s.planes ?? ['private', 'public'],
    },
  };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = root;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return typeof at === 'object' ? undefined : at;
}
