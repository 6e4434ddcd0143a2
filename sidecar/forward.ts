import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { responseHeaders } from './hop-headers.js';
import { sendAnswer, type ProxyAnswerCode } from './error-response.js';
import { BodyTooLargeError } from './policies/body-size.js';
import type { Upstream, Upstreams, Waiter } from './upstreams.js';
import type { Route } from './route-table.js';

/**
 * One request on its way through the proxy: what the access log and the metrics report
 * when it ends. Plain fields on one object per request (no closures) keep the hot path
 * cheap; the response's `close` event is where it is logged, whatever the outcome.
 */
export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly start: number;
  readonly method: string;
  host = '';
  path = '';
  requestId = '';
  route: Route | undefined = undefined;
  /** Metric/log label of the route: its id, or `passthrough` / `-`. */
  routeLabel = '-';
  upstream: Upstream | undefined = undefined;
  bytesIn = 0;
  bytesOut = 0;
  attempts = 0;
  /** Set when the proxy answered or aborted itself. */
  error: ProxyAnswerCode | undefined = undefined;
  /** The request body as undici reads it (the request itself, or a limiting pipe). */
  body: Readable | null = null;
  headers: string[] = [];
  idempotent = false;
  /** The upstream exchange in progress, to stop it if the client leaves. */
  controller: Dispatcher.DispatchController | undefined = undefined;
  /** Set while the request waits for a connection to `upstream` (its queue entry). */
  waiter: Waiter | undefined = undefined;

  /** Logs and counts the exchange once its response closed. */
  readonly owner: { finish(ex: Exchange): void };

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    start: number,
    owner: { finish(ex: Exchange): void },
  ) {
    this.owner = owner;
    this.req = req;
    this.res = res;
    this.start = start;
    this.method = req.method ?? 'GET';
  }
}

/**
 * The response closed: if that was the client leaving before the end, stop the upstream
 * request too; then log and count the exchange (once: `close` fires once).
 */
export function onResponseClosed(ex: Exchange): void {
  const waiter = ex.waiter;
  if (waiter !== undefined && ex.upstream !== undefined) leaveQueue(ex.upstream, waiter);
  const controller = ex.controller;
  if (controller !== undefined && !ex.res.writableFinished && !controller.aborted) {
    controller.abort(new Error('client closed the connection'));
  }
  ex.owner.finish(ex);
}

// https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** Errors raised before the request reached the upstream at all: safe to retry. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/**
 * A reused keep-alive connection the upstream had already closed: the request may or may
 * not have been seen, so only idempotent requests without a body are retried.
 */
const RESET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

export interface ForwardHooks {
  upstreams: Upstreams;
  /** Called for each failed attempt (metrics). */
  onUpstreamError(kind: 'connect' | 'timeout' | 'reset', ex: Exchange): void;
  onRetry(ex: Exchange): void;
  /** The upstream's answer could not be written to the client (logged once). */
  onBadResponse(ex: Exchange, err: unknown): void;
}

/**
 * Sends `ex` to `upstream`; the handler streams the answer back into `ex.res`. When all
 * of the endpoint's connections are busy the request waits in the endpoint's queue, for
 * `queueTimeoutMs` at most, and is refused at once with 503 when the queue is full.
 */
export function forward(ex: Exchange, upstream: Upstream, hooks: ForwardHooks): void {
  ex.upstream = upstream;
  const options = hooks.upstreams.options;
  if (upstream.active < options.connections) {
    dispatch(ex, upstream, hooks);
    return;
  }
  if (upstream.waiting.length >= options.queueLimit) {
    answerOrCut(ex, 'DETOUR_E_UPSTREAM_BUSY', `${upstream.waiting.length} requests queued`);
    return;
  }
  const waiter: Waiter = {
    run: () => {
      ex.waiter = undefined;
      dispatch(ex, upstream, hooks);
    },
    timer: setTimeout(() => {
      leaveQueue(upstream, waiter);
      ex.waiter = undefined;
      answerOrCut(
        ex,
        'DETOUR_E_UPSTREAM_BUSY',
        `no free connection in ${options.queueTimeoutMs} ms`,
      );
    }, options.queueTimeoutMs),
  };
  ex.waiter = waiter;
  upstream.waiting.push(waiter);
}

function dispatch(ex: Exchange, upstream: Upstream, hooks: ForwardHooks): void {
  ex.attempts++;
  upstream.active++;
  const options: Dispatcher.DispatchOptions = {
    path: ex.path,
    method: ex.method,
    headers: ex.headers,
    body: ex.body,
  };
  const handler = new ForwardHandler(ex, upstream, hooks);
  try {
    upstream.pool.dispatch(options, handler);
  } catch (err) {
    handler.onResponseError(undefined, err as Error); // keeps the slot count true
  }
}

/** A request on `upstream` finished (or failed): its slot goes to the next in line. */
function release(upstream: Upstream): void {
  upstream.active--;
  const next = upstream.waiting.shift();
  if (next !== undefined) {
    clearTimeout(next.timer);
    next.run();
  }
}

function leaveQueue(upstream: Upstream, waiter: Waiter): void {
  clearTimeout(waiter.timer);
  const i = upstream.waiting.indexOf(waiter);
  if (i !== -1) upstream.waiting.splice(i, 1);
}

/**
 * undici's dispatch handler (the v2 controller API). Backpressure goes both ways:
 * undici pauses reading the request body when the upstream socket is full; this pauses
 * the upstream response when the client socket is full and resumes it on `drain`.
 */
class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #upstream: Upstream;
  readonly #hooks: ForwardHooks;
  #released = false;
  /** The proxy gave up on this exchange itself: undici's error callback has nothing to add. */
  #abandoned = false;

  constructor(ex: Exchange, upstream: Upstream, hooks: ForwardHooks) {
    this.#ex = ex;
    this.#upstream = upstream;
    this.#hooks = hooks;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    const ex = this.#ex;
    if (ex.res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    ex.controller = controller;
  }

  onBodySent(chunk: Buffer | string): void {
    this.#ex.bytesIn += chunk.length;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // Informational answers (103 Early Hints) come before the real one; the client gets
    // only the final answer (100 Continue cannot happen: Expect is not forwarded).
    if (statusCode < 200) return;
    const ex = this.#ex;
    this.#hooks.upstreams.answered(this.#upstream, statusCode);
    if (ex.res.destroyed) {
      controller.abort(new Error('client went away'));
      return;
    }
    // The standard reason phrase, never the upstream's: a phrase with a control byte or
    // non-Latin-1 text (`200 Ок`, obs-text RFC 9112 tolerates) makes writeHead throw, and
    // the phrase carries no meaning anyway (https://www.rfc-editor.org/rfc/rfc9112#section-4).
    // A header value Node refuses to write is an upstream's fault: 502, and the upstream
    // exchange is dropped.
    try {
      ex.res.writeHead(statusCode, responseHeaders(headers));
    } catch (err) {
      this.#abandoned = true;
      controller.abort(new Error('upstream answer cannot be relayed'));
      this.#hooks.onBadResponse(ex, err);
      answerOrCut(ex, 'DETOUR_E_BAD_UPSTREAM_RESPONSE', errorCode(err) || String(err), true);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const ex = this.#ex;
    ex.bytesOut += chunk.length;
    if (!ex.res.write(chunk)) {
      controller.pause();
      ex.res.once('drain', () => {
        controller.resume();
      });
    }
  }

  onResponseEnd(): void {
    this.#release();
    this.#ex.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.#release();
    const ex = this.#ex;
    // The proxy stopped the exchange itself (body idle timeout, the guard) and answers
    // for it: an answer here would replace its 408 or 500 with a 502.
    if (this.#abandoned || ex.error !== undefined) return;
    const hooks = this.#hooks;
    const res = ex.res;
    if (res.destroyed && !res.writableFinished) return; // client left
    if (err instanceof BodyTooLargeError) {
      answerOrCut(ex, 'DETOUR_E_BODY_TOO_LARGE', err.message, true);
      return;
    }
    const code = errorCode(err);
    const connect = CONNECT_ERRORS.has(code);
    if (connect || code === 'UND_ERR_HEADERS_TIMEOUT') {
      hooks.onUpstreamError(connect ? 'connect' : 'timeout', ex);
      if (connect) hooks.upstreams.connectFailed(this.#upstream);
    } else if (RESET_ERRORS.has(code)) {
      hooks.onUpstreamError('reset', ex);
    }
    if (!res.headersSent && this.#retry(connect, RESET_ERRORS.has(code))) return;
    if (
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT'
    ) {
      answerOrCut(ex, 'DETOUR_E_TIMEOUT', code);
    } else if (connect) {
      answerOrCut(ex, 'DETOUR_E_CONNECT', code);
    } else {
      answerOrCut(ex, 'DETOUR_E_UPSTREAM_RESET', code === '' ? err.message : code);
    }
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    release(this.#upstream);
  }

  /** One retry on another endpoint, for requests that certainly did not reach one. */
  #retry(connect: boolean, reset: boolean): boolean {
    const ex = this.#ex;
    if (ex.attempts > 1 || !ex.idempotent) return false;
    const bodyUnread = ex.body === null || !ex.body.readableDidRead;
    if (!((connect && bodyUnread) || (reset && ex.body === null))) return false;
    const other =
      ex.route === undefined ? undefined : this.#hooks.upstreams.pick(ex.route, this.#upstream);
    // A keep-alive connection the upstream had closed says nothing about the endpoint: a
    // fresh connection to the same one is fine when there is no other.
    const next = other ?? (reset ? this.#upstream : undefined);
    if (next === undefined) return false;
    this.#hooks.onRetry(ex);
    forward(ex, next, this.#hooks);
    return true;
  }
}

/** Answers with a proxy error if nothing was sent yet, else cuts the response short. */
function answerOrCut(ex: Exchange, code: ProxyAnswerCode, detail: string, close = false): void {
  ex.error = code;
  if (!ex.res.headersSent) {
    ex.bytesOut = sendAnswer(ex.res, code, ex.requestId, detail, close);
  } else {
    ex.res.destroy();
  }
}
