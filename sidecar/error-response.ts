import type { ServerResponse } from 'node:http';
import { http } from './node-http.js';

/**
 * The answers the proxy gives itself, when a request cannot or must not reach an
 * upstream. Each has a stable code (the `error` field of the JSON body and the
 * `x-detour-error` header) so clients and log queries can tell a proxy answer from an
 * upstream's own 404 or 503, and the gRPC status the same answer takes for a gRPC
 * request (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md; the HTTP to
 * gRPC mapping of https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md,
 * with 429 and 413 as RESOURCE_EXHAUSTED as Envoy answers them).
 */
export const PROXY_ANSWERS = {
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
  DETOUR_E_DRAINING: { status: 503, grpc: 14, message: 'the proxy is shutting down' },
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

export type ProxyAnswerCode = keyof typeof PROXY_ANSWERS;

export function answerStatus(code: ProxyAnswerCode): number {
  return PROXY_ANSWERS[code].status;
}

/** The JSON body of a proxy answer: `{"error":code,"message":...,"requestId":...}`. */
export function answerBody(code: ProxyAnswerCode, requestId: string, detail?: string): string {
  const base = PROXY_ANSWERS[code].message;
  return JSON.stringify({
    error: code,
    message: detail === undefined ? base : `${base}: ${detail}`,
    requestId,
  });
}

/**
 * Writes a proxy answer. `close` asks the client to drop the connection, for answers
 * given before the request body was read (413): the unread body would otherwise have to
 * be drained before the connection could carry another request. Returns the body's
 * length in bytes (for the access log).
 */
export function sendAnswer(
  res: ServerResponse,
  code: ProxyAnswerCode,
  requestId: string,
  detail?: string,
  close = false,
  extraHeaders?: readonly string[],
): number {
  const status = PROXY_ANSWERS[code].status;
  const body = answerBody(code, requestId, detail);
  const length = Buffer.byteLength(body);
  const headers: string[] = [
    'content-type',
    'application/json',
    'content-length',
    String(length),
    'x-detour-error',
    code,
    'x-request-id',
    requestId,
  ];
  if (close) headers.push('connection', 'close');
  if (extraHeaders !== undefined) headers.push(...extraHeaders);
  res.writeHead(status, headers);
  res.end(body);
  return length;
}

/** Raw HTTP/1.1 answer for sockets that left the HTTP server (upgrade, CONNECT). */
export function rawAnswer(code: ProxyAnswerCode, requestId: string, detail?: string): string {
  const status = PROXY_ANSWERS[code].status;
  const body = answerBody(code, requestId, detail);
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-detour-error: ${code}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}
