import type { ServerResponse } from 'node:http';

/**
 * The answers the proxy gives itself, when a request cannot or must not reach an
 * upstream. Each has a stable code (the `error` field of the JSON body and the
 * `x-detour-error` header) so clients and log queries can tell a proxy answer from an
 * upstream's own 404 or 503.
 */
export const PROXY_ANSWERS = {
  DETOUR_E_BAD_REQUEST: { status: 400, message: 'the request cannot be routed' },
  DETOUR_E_API_KEY: { status: 403, message: 'missing or wrong API key' },
  DETOUR_E_UNKNOWN_HOST: { status: 404, message: 'no route for this host' },
  DETOUR_E_UNKNOWN_PATH: { status: 404, message: 'no route for this path on this host' },
  DETOUR_E_METHOD: { status: 405, message: 'method not allowed here' },
  DETOUR_E_BODY_TOO_LARGE: {
    status: 413,
    message: 'request body larger than CLIENT_MAX_BODY_SIZE',
  },
  DETOUR_E_NO_ENDPOINT: { status: 503, message: 'no ready endpoint for this route' },
  DETOUR_E_DRAINING: { status: 503, message: 'the proxy is shutting down' },
  DETOUR_E_CONNECT: { status: 502, message: 'could not connect to the upstream' },
  DETOUR_E_UPSTREAM_RESET: { status: 502, message: 'the upstream closed the connection' },
  DETOUR_E_TIMEOUT: { status: 504, message: 'the upstream did not answer in time' },
  // https://www.rfc-editor.org/rfc/rfc5842#section-7.2
  DETOUR_E_LOOP: { status: 508, message: 'routing loop: too many detour hops' },
} as const satisfies Record<string, { status: number; message: string }>;

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
  res.writeHead(status, headers);
  res.end(body);
  return length;
}

/** Raw HTTP/1.1 answer for sockets that left the HTTP server (upgrade, CONNECT). */
export function rawAnswer(code: ProxyAnswerCode, requestId: string, detail?: string): string {
  const status = PROXY_ANSWERS[code].status;
  const body = answerBody(code, requestId, detail);
  return (
    `HTTP/1.1 ${status} ${reason(status)}\r\n` +
    'content-type: application/json\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-detour-error: ${code}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  508: 'Loop Detected',
};

function reason(status: number): string {
  return REASONS[status] ?? 'Error';
}
