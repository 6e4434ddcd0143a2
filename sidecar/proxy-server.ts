import type * as NodeHttp from 'node:http';
import { http } from './node-http.js';
import { listenOn } from '../shared/server-lifecycle.js';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PlaneConfig } from '../shared/plane-config.js';
import { RouteTable, type Route } from './route-table.js';
import {
  addProxyHeaders,
  scanRequestHeaders,
  DEFAULT_MAX_HOPS,
  type ScannedRequest,
} from './hop-headers.js';
import { answerStatus, sendAnswer, type ProxyAnswerCode } from './error-response.js';
import { Exchange, forward, isIdempotent, onResponseClosed, type ForwardHooks } from './forward.js';
import { Upstreams, type UpstreamOptions } from './upstreams.js';
import { PolicyPipeline, type Policy, type Verdict } from './policies/policy.js';
import { ApiKeyPolicy } from './policies/api-key.js';
import { BodyLimit, BodySizePolicy } from './policies/body-size.js';
import type { AccessLog } from './access-log.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import { handleUpgrade } from './websocket.js';
import { handleConnect } from './connect-tunnel.js';
import { splitAuthority, splitRequestTarget } from './request-target.js';

export type ProxyMode = 'sidecar' | 'gateway';

export interface ProxyServerOptions {
  mode: ProxyMode;
  config: Pick<PlaneConfig, 'apiKeyHeader' | 'clientMaxBodySize'>;
  accessLog: AccessLog;
  metrics: ProxyMetrics;
  upstreams?: Partial<UpstreamOptions>;
  /** Checks run in order before forwarding; default: API key, then body size. */
  policies?: readonly Policy[];
  maxHops?: number;
  /** Idle keep-alive time of client connections. */
  keepAliveTimeoutMs?: number;
}

const kExchange = Symbol('detour.exchange');
type TrackedResponse = NodeHttp.ServerResponse & { [kExchange]?: Exchange };

/**
 * The data plane: one node:http server (no framework on the hot path). Per request:
 * scan headers → match (host, then longest path) → policies → pick an endpoint → forward
 * with undici, streaming both ways → one access-log line and metrics when the response
 * closes. Upgrade requests go to websocket.ts, CONNECT (proxy-env mode) to
 * connect-tunnel.ts.
 */
export class ProxyServer {
  readonly server: NodeHttp.Server;
  readonly mode: ProxyMode;
  readonly upstreams: Upstreams;
  readonly pipeline: PolicyPipeline;
  readonly accessLog: AccessLog;
  readonly metrics: ProxyMetrics;
  readonly apiKeyHeader: string;
  readonly clientMaxBodySize: number;
  readonly maxHops: number;
  /** Sockets that left the HTTP server (WebSocket, CONNECT tunnels). */
  readonly tunnels = new Set<Socket>();
  #table: RouteTable = RouteTable.empty();
  #ready = false;
  #draining = false;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  readonly #hooks: ForwardHooks;

  constructor(options: ProxyServerOptions) {
    this.mode = options.mode;
    this.accessLog = options.accessLog;
    this.metrics = options.metrics;
    this.apiKeyHeader = options.config.apiKeyHeader.toLowerCase();
    this.clientMaxBodySize = options.config.clientMaxBodySize;
    this.maxHops = options.maxHops ?? DEFAULT_MAX_HOPS;
    const metrics = this.metrics;
    metrics.inFlightSource = () => this.#inFlight;
    metrics.droppedSource = () => this.accessLog.dropped;
    this.upstreams = new Upstreams(options.upstreams, (event) => {
      if (event.kind === 'ejected') metrics.ejections.inc({ reason: event.reason });
    });
    this.pipeline = new PolicyPipeline(
      options.policies ?? [new ApiKeyPolicy(), new BodySizePolicy(this.clientMaxBodySize)],
    );
    this.#hooks = {
      upstreams: this.upstreams,
      onUpstreamError: (kind) => {
        metrics.upstreamErrors.inc({ kind });
      },
      onRetry: () => {
        metrics.retries.inc();
      },
    };
    this.server = http.createServer(
      {
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 60_000,
        // Uploads and downloads may take as long as they take; the upstream side has
        // its own connect and response-header timeouts.
        requestTimeout: 0,
        headersTimeout: 60_000,
      },
      (req, res) => {
        this.#onRequest(req, res);
      },
    );
    this.server.on('upgrade', (req: NodeHttp.IncomingMessage, socket: Socket, head: Buffer) => {
      handleUpgrade(this, req, socket, head);
    });
    this.server.on('connect', (req: NodeHttp.IncomingMessage, socket: Socket, head: Buffer) => {
      handleConnect(this, req, socket, head);
    });
  }

  get table(): RouteTable {
    return this.#table;
  }

  get ready(): boolean {
    return this.#ready && !this.#draining;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Swaps the table atomically: requests already matched keep the route they got. */
  setTable(table: RouteTable): void {
    this.#table = table;
    this.upstreams.trimCursors(table.routeCount);
    this.metrics.routes.set(table.routeCount);
    this.metrics.tableVersion.set(table.version);
    this.metrics.tableUpdates.inc();
  }

  /** The source delivered its first complete table: `/ready` may say yes. */
  markReady(): void {
    this.#ready = true;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (new requests
   * on open keep-alive connections are still served, with `Connection: close`), then cut
   * whatever is left after `timeoutMs`. Resolves true when everything finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    this.server.closeIdleConnections();
    const idle = new Promise<void>((resolve) => {
      if (this.#inFlight === 0 && this.tunnels.size === 0) resolve();
      else this.#idle = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    const inTime = await Promise.race([idle.then(() => true), timedOut]);
    clearTimeout(timer);
    this.server.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    await closed;
    if (inTime) await this.upstreams.close();
    else await this.upstreams.destroy();
    return inTime;
  }

  /** Closes everything now (tests). */
  async close(): Promise<void> {
    this.#draining = true;
    this.server.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    await this.upstreams.destroy();
  }

  trackTunnel(socket: Socket): void {
    this.tunnels.add(socket);
    socket.once('close', () => {
      this.tunnels.delete(socket);
      this.#checkIdle();
    });
  }

  /** A CONNECT tunnel that became an ordinary HTTP connection of this server. */
  untrackTunnel(socket: Socket): void {
    this.tunnels.delete(socket);
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#idle !== undefined && this.#inFlight === 0 && this.tunnels.size === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  #onRequest(req: NodeHttp.IncomingMessage, res: NodeHttp.ServerResponse): void {
    const ex = new Exchange(req, res, performance.now(), this);
    this.#inFlight++;
    (res as TrackedResponse)[kExchange] = ex;
    res.on('close', onResponseClose);
    if (this.#draining) res.shouldKeepAlive = false;

    const scanned = scanRequestHeaders(req.rawHeaders, this.apiKeyHeader);
    ex.requestId = scanned.requestId ?? randomUUID();
    const target = splitRequestTarget(req.url ?? '/');
    if (target === undefined) {
      this.#answer(ex, 'DETOUR_E_BAD_REQUEST', `cannot route request target ${req.url ?? ''}`);
      return;
    }
    // Absolute-form (a client configured with HTTP_PROXY): the target's authority
    // replaces Host. https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2
    ex.host = target.authority ?? scanned.host;
    ex.path = target.path;
    if (scanned.hops >= this.maxHops) {
      this.#answer(ex, 'DETOUR_E_LOOP', `${scanned.hops} hops`);
      return;
    }
    const match = this.#table.match(ex.host, ex.path);
    if (match.kind === 'route') {
      this.#routed(ex, scanned, match.route);
    } else if (match.kind === 'unknown-path') {
      this.#answer(ex, 'DETOUR_E_UNKNOWN_PATH', `${match.host}${ex.path}`);
    } else if (this.mode === 'gateway' || ex.host === '') {
      this.#answer(ex, 'DETOUR_E_UNKNOWN_HOST', ex.host);
    } else {
      this.#passthrough(ex, scanned);
    }
  }

  #routed(ex: Exchange, scanned: ScannedRequest, route: Route): void {
    ex.route = route;
    ex.routeLabel = route.id;
    const verdict = this.pipeline.run({
      req: ex.req,
      route,
      headers: scanned,
      requestId: ex.requestId,
    });
    if (verdict instanceof Promise) {
      verdict.then(
        (v) => {
          this.#afterPolicies(ex, scanned, route, v);
        },
        (err: unknown) => {
          this.#answer(ex, 'DETOUR_E_BAD_REQUEST', `policy failed: ${String(err)}`);
        },
      );
      return;
    }
    this.#afterPolicies(ex, scanned, route, verdict);
  }

  #afterPolicies(ex: Exchange, scanned: ScannedRequest, route: Route, verdict: Verdict): void {
    if (verdict !== undefined) {
      this.#answer(ex, verdict.code, verdict.detail, verdict.close);
      return;
    }
    const upstream = this.upstreams.pick(route);
    if (upstream === undefined) {
      this.#answer(ex, 'DETOUR_E_NO_ENDPOINT', route.id);
      return;
    }
    this.#prepare(ex, scanned, this.clientMaxBodySize);
    forward(ex, upstream, this.#hooks);
  }

  /** Sidecar mode, unknown host: go where the app asked, as if detour were not there. */
  #passthrough(ex: Exchange, scanned: ScannedRequest): void {
    ex.routeLabel = 'passthrough';
    const { name, port } = splitAuthority(ex.host, 80);
    if (scanned.apiKey !== undefined) scanned.forward.push(this.apiKeyHeader, scanned.apiKey);
    this.#prepare(ex, scanned, 0);
    forward(ex, this.upstreams.passthrough(name, port), this.#hooks);
  }

  #prepare(ex: Exchange, scanned: ScannedRequest, limit: number): void {
    const req = ex.req;
    ex.idempotent = isIdempotent(ex.method);
    ex.headers = addProxyHeaders(scanned, ex.host, req.socket.remoteAddress ?? '', ex.requestId);
    if (scanned.chunked) {
      if (limit > 0) {
        const limited = new BodyLimit(limit);
        req.once('error', (err) => limited.destroy(err));
        ex.body = req.pipe(limited);
      } else {
        ex.body = req;
      }
    } else if (scanned.contentLength > 0) {
      ex.body = req;
    }
  }

  #answer(ex: Exchange, code: ProxyAnswerCode, detail?: string, close = false): void {
    ex.error = code;
    ex.bytesOut = sendAnswer(ex.res, code, ex.requestId, detail, close || this.#draining);
  }

  /** The response closed (finished, or the client left): log and count it, once. */
  finish(ex: Exchange): void {
    this.#inFlight--;
    const res = ex.res;
    // Not finished: the client left (499, nginx's code), or the proxy cut the answer
    // short because the upstream failed mid-body (the proxy's error status).
    const status = res.writableFinished
      ? res.statusCode
      : ex.error === undefined
        ? 499
        : answerStatus(ex.error);
    const ms = performance.now() - ex.start;
    this.accessLog.write(ex, status, ms);
    this.metrics.observe(ex.routeLabel, status, ms / 1000);
    this.#checkIdle();
  }
}

function onResponseClose(this: TrackedResponse): void {
  const ex = this[kExchange];
  if (ex !== undefined) onResponseClosed(ex);
}
