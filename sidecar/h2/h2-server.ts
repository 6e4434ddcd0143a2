import http2, {
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { AccessLog } from '../access-log.js';
import { answerStatus } from '../error-response.js';
import { addProxyHeaders, scanRequestHeaders, type ScannedRequest } from '../hop-headers.js';
import { applyHeaderRules } from '../header-rules.js';
import type { ProxyMetrics } from '../proxy-metrics.js';
import { decide, sourceOf, type Decision, type PipelineContext } from '../request-pipeline.js';
import type { Direction } from '../traffic.js';
import { addFlat, relayH2 } from './h2-answer.js';
import { H2Exchange } from './h2-exchange.js';
import {
  answerExchange,
  cancelExchange,
  forwardH2,
  onClientClose,
  type H2ForwardHooks,
} from './h2-forward.js';
import { H2_LIMITS } from './h2-limits.js';
import { H2Sessions, type H2SessionOptions } from './h2-sessions.js';
import { grpcTimeoutMs, isGrpc } from './grpc-status.js';

/** What the HTTP/2 side needs of the proxy that owns it. */
export interface H2Context {
  readonly pipeline: PipelineContext;
  readonly accessLog: AccessLog;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly clientMaxBodySize: number;
  /** An HTTP/2 connection without any frame for this long is closed with GOAWAY. */
  readonly idleMs: number;
  /** The upstream stream may stay silent this long (the HTTP/1 body-idle bound). */
  readonly upstreamIdleMs: number;
  readonly sessions?: Partial<H2SessionOptions> | undefined;
  /** A stream began / ended (the proxy's in-flight count, for a graceful drain). */
  streamStarted(): void;
  streamEnded(): void;
}

const kAppPort = Symbol('detour.h2.appPort');
type H2Socket = Socket & { [kAppPort]?: number };

/**
 * HTTP/2 with prior knowledge (h2c) on the proxy's own listeners: the listener hands a
 * connection that opened with the preface (preface.ts) to `serve`, node:http2 parses it,
 * and each stream goes through the same decision as an HTTP/1 request
 * (request-pipeline.ts): `:authority` (else `host`) and `:path` are matched, the
 * policies run, an endpoint is picked; then h2-forward.ts relays it over h2c.
 * https://www.rfc-editor.org/rfc/rfc9113#section-3.3
 */
export class H2Server {
  readonly upstreamSessions: H2Sessions;
  readonly #ctx: H2Context;
  readonly #servers: Record<Direction, Http2Server>;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #hooks: H2ForwardHooks;
  readonly #live = new Set<H2Exchange>();
  readonly #sweeper: NodeJS.Timeout | undefined;

  constructor(ctx: H2Context) {
    this.#ctx = ctx;
    this.upstreamSessions = new H2Sessions({
      connectTimeoutMs: ctx.pipeline.upstreams.options.connectTimeoutMs,
      ...ctx.sessions,
    });
    this.#servers = { outbound: this.#create('outbound'), inbound: this.#create('inbound') };
    const metrics = ctx.metrics;
    this.#hooks = {
      upstreams: ctx.pipeline.upstreams,
      sessions: this.upstreamSessions,
      live: this.#live,
      onUpstreamError: (kind) => {
        metrics.upstreamErrors.inc({ kind });
      },
      onRetry: () => {
        metrics.retries.inc();
      },
    };
    const idleMs = ctx.upstreamIdleMs;
    if (idleMs > 0) {
      this.#sweeper = setInterval(
        () => {
          this.#sweep(idleMs);
        },
        Math.min(1_000, Math.max(10, idleMs / 4)),
      );
      this.#sweeper.unref();
    }
  }

  /**
   * Upstream streams silent for `idleMs` either way are cancelled (logged
   * `DETOUR_E_TIMEOUT`): `--response-idle-timeout`, checked at most a second late.
   */
  #sweep(idleMs: number): void {
    const now = Date.now();
    for (const ex of this.#live) {
      if (now - ex.lastActive < idleMs) continue;
      this.#live.delete(ex);
      this.#hooks.onUpstreamError('timeout');
      cancelExchange(ex, 'DETOUR_E_TIMEOUT', `the upstream stream was silent for ${idleMs} ms`);
    }
  }

  /** Serves a connection whose first bytes (still buffered) are the HTTP/2 preface. */
  serve(socket: Socket, direction: Direction, appPort?: number): void {
    (socket as H2Socket)[kAppPort] = appPort;
    // node:http sets this on its own connections; node:http2 leaves it to the listener.
    socket.setNoDelay(true);
    this.#servers[direction].emit('connection', socket);
  }

  get connections(): number {
    return this.#sessions.size;
  }

  /** GOAWAY to every client connection: streams in flight finish, no new ones start. */
  drain(): void {
    for (const session of this.#sessions) session.close();
    this.upstreamSessions.close();
  }

  destroy(): void {
    clearInterval(this.#sweeper);
    for (const session of this.#sessions) session.destroy();
    this.#sessions.clear();
    this.upstreamSessions.destroy();
  }

  #create(direction: Direction): Http2Server {
    const server = http2.createServer({
      settings: H2_LIMITS.settings,
      maxSessionMemory: H2_LIMITS.maxSessionMemory,
      maxHeaderListPairs: H2_LIMITS.maxHeaderListPairs,
      maxSettings: H2_LIMITS.maxSettings,
      maxOutstandingPings: H2_LIMITS.maxOutstandingPings,
      maxSessionInvalidFrames: H2_LIMITS.maxSessionInvalidFrames,
      maxSessionRejectedStreams: H2_LIMITS.maxSessionRejectedStreams,
    });
    server.on('session', (session: ServerHttp2Session) => {
      this.#sessions.add(session);
      // A peer's protocol error ends its own connection (GOAWAY), never the process.
      session.on('error', ignore);
      session.once('close', () => this.#sessions.delete(session));
      session.setTimeout(this.#ctx.idleMs, () => {
        session.close();
      });
    });
    server.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
        this.#onStream(direction, stream, headers, raw);
      },
    );
    return server;
  }

  #onStream(
    direction: Direction,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    raw: string[],
  ): void {
    const method = headers[':method'] ?? 'GET';
    const ex = new H2Exchange(
      stream,
      method,
      isGrpc(headers['content-type']),
      performance.now(),
      direction,
    );
    this.#ctx.streamStarted();
    stream.on('error', ignore); // 'close' carries the outcome
    stream.once('close', () => {
      onClientClose(ex);
      this.#finish(ex);
    });
    try {
      this.#start(ex, headers, raw);
    } catch (err) {
      this.#fail(ex, err);
    }
  }

  #start(ex: H2Exchange, headers: IncomingHttpHeaders, raw: string[]): void {
    const ctx = this.#ctx.pipeline;
    const scanned = scanRequestHeaders(withoutPseudo(raw), ctx.apiKeyHeader);
    ex.requestId = scanned.requestId ?? randomUUID();
    // RFC 9113 §8.3.1: `:authority` is the target; `host` only when it is absent.
    ex.host = headers[':authority'] ?? scanned.host;
    ex.path = headers[':path'] ?? '';
    const timeout = headers['grpc-timeout'];
    const deadline = grpcTimeoutMs(typeof timeout === 'string' ? timeout : undefined);
    if (deadline !== undefined) {
      ex.deadline = setTimeout(() => {
        cancelExchange(ex, 'DETOUR_E_TIMEOUT', `grpc-timeout ${String(timeout)}`);
      }, deadline);
    }
    if (ex.method === 'CONNECT') {
      answerExchange(ex, 'DETOUR_E_METHOD', 'CONNECT over HTTP/2 is not served');
      return;
    }
    if (!ex.path.startsWith('/')) {
      answerExchange(ex, 'DETOUR_E_BAD_REQUEST', `cannot route :path ${clip(ex.path)}`);
      return;
    }
    const socket = ex.stream.session?.socket;
    const decision = decide(ctx, {
      req: { method: ex.method, socket: { remoteAddress: socket?.remoteAddress } },
      host: ex.host,
      path: ex.path,
      scanned,
      requestId: ex.requestId,
      direction: ex.direction,
      appPort: appPortOf(socket),
      notes: ex,
    });
    if (decision instanceof Promise) {
      decision.then(
        (d) => {
          this.#act(ex, scanned, headers, d);
        },
        (err: unknown) => {
          this.#fail(ex, err);
        },
      );
      return;
    }
    this.#act(ex, scanned, headers, decision);
  }

  #act(
    ex: H2Exchange,
    scanned: ScannedRequest,
    headers: IncomingHttpHeaders,
    decision: Decision,
  ): void {
    try {
      if (ex.stream.destroyed || ex.error !== undefined) return; // gone, or past its deadline
      if (decision.kind === 'refuse') {
        if (decision.route !== undefined) {
          ex.route = decision.route;
          ex.routeLabel = decision.route.id;
        }
        if (decision.answer !== undefined) {
          const relayed = relayH2(ex.stream, ex.grpc, decision.answer);
          ex.status = relayed.status;
          ex.grpcStatus = relayed.grpcStatus;
          ex.bytesOut = relayed.bytes;
          return;
        }
        answerExchange(ex, decision.code, decision.detail, decision.headers);
        return;
      }
      let limit = 0;
      if (decision.kind === 'passthrough') {
        ex.routeLabel = 'passthrough';
      } else {
        ex.route = decision.route;
        ex.routeLabel = decision.route.id;
        limit = this.#ctx.clientMaxBodySize;
      }
      const out = this.#upstreamHeaders(ex, scanned, headers);
      const retry = decision.kind === 'route' ? decision.route : undefined;
      forwardH2(ex, decision.upstream, out, limit, this.#hooks, retry);
    } catch (err) {
      this.#fail(ex, err);
    }
  }

  /** The request as the upstream gets it: the proxy's headers added, as for HTTP/1. */
  #upstreamHeaders(
    ex: H2Exchange,
    scanned: ScannedRequest,
    headers: IncomingHttpHeaders,
  ): OutgoingHttpHeaders {
    const ctx = this.#ctx.pipeline;
    const source = sourceOf(ctx, ex.direction, scanned);
    const remote = ex.stream.session?.socket.remoteAddress ?? '';
    let flat = addProxyHeaders(scanned, ex.host, remote, ex.requestId, source);
    const rules = ex.route?.policy?.requestHeaders;
    if (rules !== undefined) flat = applyHeaderRules(flat, rules);
    const out: OutgoingHttpHeaders = {
      ':method': ex.method,
      ':scheme': headers[':scheme'] ?? 'http',
      ':authority': ex.host,
      ':path': ex.path,
    };
    addFlat(out, flat);
    // gRPC servers may insist on it; it is the one `te` value HTTP/2 allows (§8.2.2).
    if (headers.te === 'trailers') out.te = 'trailers';
    return out;
  }

  #fail(ex: H2Exchange, err: unknown): void {
    this.#ctx.metrics.internalErrors.inc({ where: 'h2' });
    this.#ctx.logger.error(
      {
        code: 'DETOUR_E_INTERNAL',
        where: 'h2',
        requestId: ex.requestId,
        err: errorMessage(err),
        stack: err instanceof Error ? err.stack : undefined,
      },
      'request handling failed; answered for this request only',
    );
    try {
      answerExchange(ex, 'DETOUR_E_INTERNAL');
    } catch {
      ex.stream.destroy();
    }
  }

  #finish(ex: H2Exchange): void {
    const ctx = this.#ctx;
    // An error detour did not answer itself (it cut the stream) reports the error's
    // status; a stream the client reset before the end is 499, nginx's code.
    const status =
      ex.error !== undefined && !ex.ownAnswer
        ? answerStatus(ex.error)
        : ex.status !== 0 && ex.stream.rstCode === http2.constants.NGHTTP2_NO_ERROR
          ? ex.status
          : 499;
    const ms = performance.now() - ex.start;
    ctx.accessLog.write(ex, status, ms);
    ctx.metrics.observe(ex.direction, ex.routeLabel, status, ms / 1000);
    ctx.metrics.countStream(ex.direction, ex.grpcStatus);
    ctx.streamEnded();
  }
}

/** The app port `serve` noted on the connection (inbound), through the session's socket. */
function appPortOf(socket: Socket | undefined): number | undefined {
  return socket === undefined ? undefined : (socket as H2Socket)[kAppPort];
}

/** Node's raw header list minus the pseudo-headers, for the HTTP/1 header scan. */
function withoutPseudo(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) !== 0x3a) out.push(name, raw[i + 1] as string);
  }
  return out;
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function ignore(): void {
  // the stream's or session's 'close' tells the outcome
}
