import type { ServerResponse } from 'node:http';
import { http } from './node-http.js';
import { ERROR_CODES, type ErrorCode } from '../shared/error-codes.js';

/**
 * The answers the proxy gives itself, when a request cannot or must not reach an
 * upstream. Each carries its stable code from the one registry (shared/error-codes.ts):
 * the `error` field of the JSON body and the `x-detour-error` header, so clients and log
 * queries can tell a proxy answer from an upstream's own 404 or 503.
 */
export type ProxyAnswerCode = ErrorCode;

export function answerStatus(code: ProxyAnswerCode): number {
  return ERROR_CODES[code].status;
}

/** The JSON body of a proxy answer: `{"error":code,"message":...,"requestId":...}`. */
export function answerBody(code: ProxyAnswerCode, requestId: string, detail?: string): string {
  const base = ERROR_CODES[code].message;
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
  const status = ERROR_CODES[code].status;
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
  const status = ERROR_CODES[code].status;
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
