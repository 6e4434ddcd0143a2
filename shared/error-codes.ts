/**
 * The one error registry: every code detour raises or answers with, its HTTP status, its
 * gRPC status and its message. A code is stable (logs, alerts and clients match on it,
 * the undici and fastify convention: `UND_ERR_*`, `FST_ERR_*`); the message is for people.
 *
 * gRPC statuses: https://github.com/grpc/grpc/blob/master/doc/statuscodes.md, mapped from
 * HTTP as https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md does,
 * with 429 and 413 as RESOURCE_EXHAUSTED as Envoy answers them.
 */
export const ERROR_CODES = {
  // --- Configuration and input: raised at start or by the webhook and the CLI ----------
  DETOUR_E_BAD_ANNOTATION: { status: 400, grpc: 3, message: 'invalid annotation' },
  DETOUR_E_BAD_KNOB: { status: 500, grpc: 9, message: 'invalid environment knob' },
  DETOUR_E_BAD_FLAG: { status: 400, grpc: 3, message: 'invalid command-line flag' },
  DETOUR_E_BAD_INPUT: { status: 400, grpc: 3, message: 'input that cannot be used' },
  DETOUR_E_BAD_SOURCE: { status: 500, grpc: 9, message: 'route source that cannot be read' },
  DETOUR_E_TLS: { status: 500, grpc: 14, message: 'TLS material that cannot be used' },
  DETOUR_E_IPTABLES: { status: 500, grpc: 13, message: 'iptables refused the rules' },
  DETOUR_E_KUBE: { status: 502, grpc: 14, message: 'the Kubernetes API failed' },
  DETOUR_E_UPSTREAM: { status: 502, grpc: 14, message: 'a peer did not answer as expected' },
  // --- Answers the proxy gives itself (x-detour-error, the JSON body's `error`) --------
  DETOUR_E_BAD_REQUEST: { status: 400, grpc: 13, message: 'the request cannot be routed' },
  DETOUR_E_BAD_HOST: {
    status: 400,
    grpc: 13,
    message: 'invalid Host header or request authority',
  },
  DETOUR_E_DUPLICATE_HEADER: {
    status: 400,
    grpc: 13,
    message: 'a header that must appear once appears more than once',
  },
  DETOUR_E_API_KEY: { status: 403, grpc: 7, message: 'missing or wrong API key' },
  // The auth service's own refusal, relayed as it answered; 403 is what it usually says.
  DETOUR_E_AUTH_DENIED: { status: 403, grpc: 7, message: 'the auth service refused the call' },
  DETOUR_E_UNKNOWN_HOST: { status: 404, grpc: 12, message: 'no route for this host' },
  DETOUR_E_UNKNOWN_PATH: {
    status: 404,
    grpc: 12,
    message: 'no route for this path on this host',
  },
  DETOUR_E_METHOD: { status: 405, grpc: 12, message: 'method not allowed here' },
  DETOUR_E_ROUTES_LOOPBACK: {
    status: 403,
    grpc: 7,
    message: 'the route table is served to loopback peers only',
  },
  DETOUR_E_BODY_TIMEOUT: {
    status: 408,
    grpc: 4,
    message: 'the request body stopped arriving (idle timeout)',
  },
  DETOUR_E_BODY_TOO_LARGE: {
    status: 413,
    grpc: 8,
    message: 'request body larger than CLIENT_MAX_BODY_SIZE',
  },
  DETOUR_E_RATE_LIMITED: {
    status: 429,
    grpc: 8,
    message: 'rate limit of the ApiPolicy exceeded',
  },
  DETOUR_E_INTERNAL: { status: 500, grpc: 13, message: 'internal proxy error' },
  DETOUR_E_TRANSFER_CODING: {
    status: 501,
    grpc: 12,
    message: 'transfer coding not implemented: only chunked alone is accepted',
  },
  DETOUR_E_NO_ENDPOINT: { status: 503, grpc: 14, message: 'no ready endpoint for this route' },
  DETOUR_E_UPSTREAM_BUSY: {
    status: 503,
    grpc: 14,
    message: 'every connection to the upstream stayed busy',
  },
  DETOUR_E_AUTH_UNAVAILABLE: {
    status: 503,
    grpc: 14,
    message: 'the auth service did not answer in time',
  },
  DETOUR_E_CONNECT: { status: 502, grpc: 14, message: 'could not connect to the upstream' },
  DETOUR_E_UPSTREAM_RESET: {
    status: 502,
    grpc: 14,
    message: 'the upstream closed the connection',
  },
  DETOUR_E_BAD_UPSTREAM_RESPONSE: {
    status: 502,
    grpc: 14,
    message: "the upstream's answer cannot be relayed",
  },
  DETOUR_E_TIMEOUT: { status: 504, grpc: 4, message: 'the upstream did not answer in time' },
  // https://www.rfc-editor.org/rfc/rfc5842#section-7.2
  DETOUR_E_LOOP: { status: 508, grpc: 14, message: 'routing loop: too many detour hops' },
} as const satisfies Record<string, { status: number; grpc: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
