import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { ERROR_CODES } from '../../shared/error-codes.js';
import { applyHeaderRules } from '../header-rules.js';
import type { ProxyAnswerCode } from '../error-response.js';
import type { Route } from '../route-table.js';
import type { Upstream, Upstreams } from '../upstreams.js';
import { addFlat, answerH2, CONNECTION_SPECIFIC } from './h2-answer.js';
import type { H2Exchange } from './h2-exchange.js';
import type { H2Sessions } from './h2-sessions.js';
import { encodeGrpcMessage } from './grpc-status.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } =
  http2.constants;

export interface H2ForwardHooks {
  readonly upstreams: Upstreams;
  readonly sessions: H2Sessions;
  /** Exchanges with an upstream stream open, for the idle sweep (`lastActive`). */
  readonly live: Set<H2Exchange>;
  onUpstreamError(kind: 'connect' | 'timeout' | 'reset'): void;
  onRetry(): void;
}

/** detour's own answer on the exchange's stream, noted for its log line. */
export function answerExchange(
  ex: H2Exchange,
  code: ProxyAnswerCode,
  detail?: string,
  extra?: readonly string[],
): void {
  ex.error = code;
  const stream = ex.stream;
  if (stream.headersSent) {
    // Too late for an answer: end the call the way HTTP/2 can (RFC 9113 §8.1).
    if (!stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const answered = answerH2(stream, ex.grpc, code, ex.requestId, detail, extra);
  ex.ownAnswer = true;
  ex.status = answered.status;
  ex.grpcStatus = answered.grpcStatus;
  ex.bytesOut = answered.bytes;
}

/**
 * Sends the exchange to `upstream` over h2c, streaming both ways with backpressure
 * (a slow reader on one side stops the reads, and so the WINDOW_UPDATEs, on the
 * other: RFC 9113 §5.2), trailers forwarded both ways, RST_STREAM propagated.
 * `retry`: the route whose next endpoint is tried once when the connection could not
 * be made (nothing was sent, so any method may be retried).
 */
export function forwardH2(
  ex: H2Exchange,
  upstream: Upstream,
  headers: OutgoingHttpHeaders,
  limit: number,
  hooks: H2ForwardHooks,
  retry: Route | undefined,
): void {
  ex.upstream = upstream;
  hooks.sessions.acquire(upstream, (result) => {
    if (ex.stream.destroyed || ex.error !== undefined) {
      if (typeof result === 'object' && !(result instanceof Error)) hooks.sessions.release(result);
      return;
    }
    if (result === 'busy') {
      answerExchange(ex, 'DETOUR_E_UPSTREAM_BUSY', `${upstream.key}: every h2c connection is full`);
      return;
    }
    if (result instanceof Error) {
      hooks.onUpstreamError('connect');
      hooks.upstreams.connectFailed(upstream);
      const next = retry === undefined ? undefined : hooks.upstreams.pick(retry, upstream);
      if (next !== undefined && next !== upstream) {
        hooks.onRetry();
        forwardH2(ex, next, headers, limit, hooks, undefined);
        return;
      }
      answerExchange(ex, 'DETOUR_E_CONNECT', upstream.key);
      return;
    }
    openStream(ex, result, headers, limit, hooks);
  });
}

function openStream(
  ex: H2Exchange,
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  limit: number,
  hooks: H2ForwardHooks,
): void {
  const stream = ex.stream;
  const upstream = ex.upstream as Upstream;
  let req;
  try {
    req = session.request(headers, { waitForTrailers: true });
  } catch {
    hooks.sessions.release(session);
    answerExchange(ex, 'DETOUR_E_UPSTREAM_RESET', upstream.key);
    return;
  }
  ex.upstreamStream = req;
  ex.session = session;
  req.on('error', ignore); // 'close' tells what happened, with the RST_STREAM code
  req.once('close', () => {
    hooks.live.delete(ex);
    hooks.sessions.release(session);
    onUpstreamClose(ex, hooks);
  });
  req.on('response', (h: IncomingHttpHeaders, flags: number) => {
    const status = Number(h[':status']);
    hooks.upstreams.answered(upstream, status);
    if (stream.destroyed || stream.headersSent) return;
    ex.status = status;
    const out = responseHeaders(h, ex.route?.policy?.responseHeaders);
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only (a gRPC error status): relayed as one HEADERS frame, as it came.
      ex.grpcStatus = grpcStatusOf(h);
      ex.done = true;
      stream.respond(out, { endStream: true });
      return;
    }
    stream.respond(out, { waitForTrailers: true });
    relayResponse(ex, req);
  });
  req.on('trailers', (t: IncomingHttpHeaders) => {
    ex.trailers = t;
    ex.grpcStatus = grpcStatusOf(t);
  });
  req.on('wantTrailers', () => {
    req.sendTrailers(trailersOf(ex.requestTrailers));
  });
  stream.on('wantTrailers', () => {
    ex.done = true;
    stream.sendTrailers(trailersOf(ex.trailers));
  });
  stream.on('trailers', (t: IncomingHttpHeaders) => {
    ex.requestTrailers = t;
  });
  relayRequest(ex, req, limit);
  // Upstream silence is checked by the server's sweep (h2-server.ts), not one timer per
  // stream: a unary call would otherwise create and refresh a timer for each frame.
  ex.lastActive = Date.now();
  hooks.live.add(ex);
}

/**
 * Client to upstream, with backpressure: when the upstream stream's buffer is full the
 * client stream is paused, so node:http2 stops acknowledging its DATA and the client's
 * window closes (RFC 9113 §5.2). Lighter than `pipe` (two listeners, no cleanup chain),
 * which matters at one unary gRPC call per stream. `limit` > 0: CLIENT_MAX_BODY_SIZE over
 * the whole request stream.
 */
function relayRequest(ex: H2Exchange, req: ClientHttp2Stream, limit: number): void {
  const stream = ex.stream;
  stream.on('data', (chunk: Buffer) => {
    ex.bytesIn += chunk.length;
    ex.lastActive = Date.now();
    if (ex.error !== undefined) return;
    if (limit > 0 && ex.bytesIn > limit) {
      stream.pause();
      req.close(NGHTTP2_CANCEL);
      answerExchange(ex, 'DETOUR_E_BODY_TOO_LARGE', `over ${limit} bytes`);
      return;
    }
    if (!req.write(chunk)) stream.pause();
  });
  req.on('drain', () => {
    stream.resume();
  });
  stream.once('end', () => {
    if (ex.error === undefined && !req.destroyed) req.end();
  });
}

/** Upstream to client, with the same backpressure the other way. */
function relayResponse(ex: H2Exchange, req: ClientHttp2Stream): void {
  const stream = ex.stream;
  req.on('data', (chunk: Buffer) => {
    ex.bytesOut += chunk.length;
    ex.lastActive = Date.now();
    if (ex.error !== undefined || stream.destroyed) return;
    if (!stream.write(chunk)) req.pause();
  });
  stream.on('drain', () => {
    req.resume();
  });
  req.once('end', () => {
    if (ex.error === undefined && !stream.destroyed) stream.end();
  });
}

/**
 * The exchange ends early (its deadline, an idle upstream): the upstream stream is
 * cancelled, and the client gets detour's answer, or, mid-answer, the gRPC status in the
 * trailers (or a reset when the call is not gRPC).
 */
export function cancelExchange(ex: H2Exchange, code: ProxyAnswerCode, detail: string): void {
  if (ex.error !== undefined || ex.done) return;
  const stream = ex.stream;
  const req = ex.upstreamStream;
  // ex.error is set before anything else, so neither relay writes another byte.
  ex.error = code;
  if (req !== undefined && !req.closed) req.close(NGHTTP2_CANCEL);
  if (stream.destroyed) return;
  if (!stream.headersSent) {
    answerExchange(ex, code, detail);
    return;
  }
  if (ex.grpc && !stream.writableEnded) {
    const grpc = ERROR_CODES[code].grpc;
    ex.grpcStatus = grpc;
    ex.ownAnswer = true;
    ex.trailers = {
      'grpc-status': String(grpc),
      'grpc-message': encodeGrpcMessage(`${ERROR_CODES[code].message}: ${detail}`),
    };
    stream.end();
    return;
  }
  stream.close(NGHTTP2_CANCEL);
}

/** The upstream stream closed: anything but a complete answer is passed on. */
function onUpstreamClose(ex: H2Exchange, hooks: H2ForwardHooks): void {
  const req = ex.upstreamStream;
  const stream = ex.stream;
  if (req === undefined || ex.done || ex.error !== undefined || stream.destroyed) return;
  const code = req.rstCode;
  if (code === NGHTTP2_NO_ERROR && req.readableEnded) return; // the answer is relayed
  hooks.onUpstreamError('reset');
  if (!stream.headersSent) {
    answerExchange(ex, 'DETOUR_E_UPSTREAM_RESET', `${ex.upstream?.key ?? '-'}: RST_STREAM ${code}`);
    return;
  }
  // Mid-answer: the client sees the upstream's own RST_STREAM code (RFC 9113 §6.4).
  ex.error = 'DETOUR_E_UPSTREAM_RESET';
  if (!stream.closed) stream.close(code === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : code);
}

/** The client's stream closed (done, reset, or gone): the upstream stream goes too. */
export function onClientClose(ex: H2Exchange): void {
  clearTimeout(ex.deadline);
  const req = ex.upstreamStream;
  if (req === undefined || req.closed || req.destroyed) return;
  const code = ex.stream.rstCode;
  req.close(code === NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : code);
}

function grpcStatusOf(h: IncomingHttpHeaders): number | undefined {
  const value = h['grpc-status'];
  return typeof value === 'string' ? Number(value) : undefined;
}

/** Response headers as the client gets them: `:status` kept, connection-specific ones not. */
function responseHeaders(
  h: IncomingHttpHeaders,
  rules: Parameters<typeof applyHeaderRules>[1] | undefined,
): OutgoingHttpHeaders {
  let flat: string[] = [];
  for (const name in h) {
    const value = h[name];
    if (value === undefined || name.charCodeAt(0) === 0x3a) continue;
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else flat.push(name, value);
  }
  if (rules !== undefined) flat = applyHeaderRules(flat, rules);
  const out: OutgoingHttpHeaders = { ':status': h[':status'] };
  addFlat(out, flat);
  return out;
}

/** Trailers to send on: an empty set ends the stream without a HEADERS frame. */
function trailersOf(t: IncomingHttpHeaders | undefined): OutgoingHttpHeaders {
  if (t === undefined) return {};
  const out: OutgoingHttpHeaders = {};
  for (const name in t) {
    if (name.charCodeAt(0) === 0x3a || CONNECTION_SPECIFIC.has(name)) continue;
    out[name] = t[name];
  }
  return out;
}

function ignore(): void {
  // handled on 'close'
}
