import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ERROR_CODES } from '../../shared/error-codes.js';
import { answerBody, type ProxyAnswerCode } from '../error-response.js';
import type { PolicyAnswer } from '../policies/policy.js';
import { encodeGrpcMessage, grpcStatusOfHttp } from './grpc-status.js';

/** What an answer put on the wire, for the stream's log line. */
export interface H2Answered {
  readonly status: number;
  readonly grpcStatus: number | undefined;
  readonly bytes: number;
}

/**
 * detour's own answer on an HTTP/2 stream. To a gRPC call it is trailers-only (one
 * HEADERS frame with END_STREAM: `:status 200`, `grpc-status` from the registry,
 * `grpc-message` percent-encoded), which every gRPC client reads as the call's status
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md, "Trailers-Only");
 * anything else gets the JSON answer HTTP/1 clients get. `extra` is a flat
 * `[name, value, ...]` list (`retry-after`, `ratelimit`).
 */
export function answerH2(
  stream: ServerHttp2Stream,
  grpc: boolean,
  code: ProxyAnswerCode,
  requestId: string,
  detail?: string,
  extra?: readonly string[],
): H2Answered {
  const entry = ERROR_CODES[code];
  const message = detail === undefined ? entry.message : `${entry.message}: ${detail}`;
  if (grpc) {
    const headers = grpcHeaders(entry.grpc, message, extra);
    headers['x-detour-error'] = code;
    headers['x-request-id'] = requestId;
    respond(stream, headers, undefined);
    return { status: 200, grpcStatus: entry.grpc, bytes: 0 };
  }
  const body = Buffer.from(answerBody(code, requestId, detail));
  const headers: OutgoingHttpHeaders = {
    ':status': entry.status,
    'content-type': 'application/json',
    'content-length': body.length,
    'x-detour-error': code,
    'x-request-id': requestId,
  };
  addFlat(headers, extra);
  respond(stream, headers, body);
  return { status: entry.status, grpcStatus: undefined, bytes: body.length };
}

/**
 * A policy's own answer (the auth service's refusal): as it is to a plain HTTP/2 client,
 * as the matching gRPC status to a gRPC client (its body would not parse as messages).
 */
export function relayH2(
  stream: ServerHttp2Stream,
  grpc: boolean,
  answer: PolicyAnswer,
): H2Answered {
  if (grpc) {
    const status = grpcStatusOfHttp(answer.status);
    const headers = grpcHeaders(status, `the auth service answered ${answer.status}`, undefined);
    addFlat(headers, answer.headers);
    headers[':status'] = 200;
    headers['content-type'] = 'application/grpc';
    respond(stream, headers, undefined);
    return { status: 200, grpcStatus: status, bytes: 0 };
  }
  const headers: OutgoingHttpHeaders = { ':status': answer.status };
  addFlat(headers, answer.headers);
  headers['content-length'] = answer.body.length;
  respond(stream, headers, answer.body);
  return { status: answer.status, grpcStatus: undefined, bytes: answer.body.length };
}

function grpcHeaders(
  status: number,
  message: string,
  extra: readonly string[] | undefined,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(status),
    'grpc-message': encodeGrpcMessage(message),
  };
  addFlat(headers, extra);
  return headers;
}

/**
 * Adds a flat header list; names are lower-cased (RFC 9113 §8.2.1 forbids upper case)
 * and the connection-specific ones HTTP/2 forbids (§8.2.2) are left out.
 */
export function addFlat(headers: OutgoingHttpHeaders, flat: readonly string[] | undefined): void {
  if (flat === undefined) return;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    if (CONNECTION_SPECIFIC.has(name) || name.startsWith(':')) continue;
    const value = flat[i + 1] as string;
    const had = headers[name];
    if (had === undefined) headers[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else headers[name] = [String(had), value];
  }
}

/** https://www.rfc-editor.org/rfc/rfc9113#section-8.2.2 */
export const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'host',
  'http2-settings',
]);

function respond(
  stream: ServerHttp2Stream,
  headers: OutgoingHttpHeaders,
  body: Buffer | undefined,
): void {
  if (stream.destroyed || stream.headersSent) return;
  if (body === undefined || body.length === 0) {
    stream.respond(headers, { endStream: true });
    return;
  }
  stream.respond(headers);
  stream.end(body);
}
