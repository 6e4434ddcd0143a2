import type * as NodeHttp from 'node:http';
import { http } from './node-http.js';
import { listenOn } from '../shared/server-lifecycle.js';
import net, { type AddressInfo, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PlaneConfig } from '../shared/plane-config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { RouteTable } from './route-table.js';
import {
  addProxyHeaders,
  keyHeaderForm,
  scanRequestHeaders,
  DEFAULT_MAX_HOPS,
  type ScannedRequest,
} from './hop-headers.js';
import { answerStatus, sendAnswer, type ProxyAnswerCode } from './error-response.js';
import { Exchange, forward, isIdempotent, onResponseClosed, type ForwardHooks } from './forward.js';
import { Upstreams, type UpstreamOptions } from './upstreams.js';
import { PolicyPipeline, type Policy } from './policies/policy.js';
import { BodyLimit } from './policies/body-size.js';
import { defaultPolicies } from './policies/default-chain.js';
import type { AccessLog } from './access-log.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import { handleUpgrade } from './websocket.js';
import { handleConnect } from './connect-tunnel.js';
import { splitRequestTarget } from './request-target.js';
import { applyHeaderRules } from './header-rules.js';
import type { PolicyAnswer } from './policies/policy.js';
import {
  decide,
  sourceOf,
  type Decision,
  type Direction,
  type LocalPod,
  type PipelineContext,
  type ProxyMode,
} from './request-pipeline.js';
import type { TunnelContext } from './tunnel.js';
import { InboundListener, type InboundContext } from './inbound-listener.js';
import type { InboundPort } from '../shared/inbound-ports.js';
import { LazyH2Server } from './h2/lazy-h2-server.js';
import { routeByPreface } from './h2/preface.js';

export type { ProxyMode };

/** Client-side deadlines (the upstream side's are in UpstreamOptions). */
export interface ClientTimeouts {
  /** A request head must arrive in full within this time (Node's `headersTimeout`). */
  headersMs: number;
  /** The request body may stay silent this long before the proxy answers 408. */
  bodyIdleMs: number;
  /** Idle keep-alive time of client connections. */
  keepAliveMs: number;
}

/**
 * After HAProxy's `timeout http-request` (10 s is its documented example) and Envoy's
 * `request_headers_timeout`; the body's idle bound is the `timeout client` people set.
 */
export const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = {
  headersMs: 10_000,
  bodyIdleMs: 60_000,
  keepAliveMs: 60_000,
};

export interface ProxyServerOptions {
  mode: ProxyMode;
  config: Pick<PlaneConfig, 'apiKeyHeader' | 'clientMaxBodySize'>;
  accessLog: AccessLog;
  metrics: ProxyMetrics;
  /** Operational log (errors caught by the guard); default: JSON lines beside the access log. */
  logger?: Logger;
  upstreams?: Partial<UpstreamOptions>;
  timeouts?: Partial<ClientTimeouts>;
  /** Checks run in order before forwarding; default: API key, then body size. */
  policies?: readonly Policy[];
  maxHops?: number;
  /** The pod this sidecar serves (downward API); unset outside a pod. */
  pod?: LocalPod | undefined;
  /** Inbound capture (sidecar mode, needs `pod`): the listener of each captured app port. */
  inbound?: readonly InboundPort[] | undefined;
}

/** How long an inbound client may stay silent before the app is asked to speak first. */
const INBOUND_SNIFF_MS = 100;

const kExchange = Symbol('detour.exchange');
type TrackedResponse = NodeHttp.ServerResponse & { [kExchange]?: Exchange };
/** The app port an inbound connection was captured for, set before it meets the server. */
const kAppPort = Symbol('detour.appPort');
type InboundSocket = Socket & { [kAppPort]?: number };

/**
 * The data plane: one node:http server (no framework on the hot path). Per request:
 * scan headers → the pipeline's decision (request-pipeline.ts: match, policies, endpoint)
 * → forward with undici, streaming both ways → one access-log line and metrics when the
 * response closes. Upgrade requests go to websocket.ts, CONNECT (proxy-env mode) to
 * connect-tunnel.ts; both take the same decision through a narrow context.
 *
 * Every handler runs inside a guard: an exception becomes an answer for that request
 * only (500 `DETOUR_E_INTERNAL`, or a cut connection once the head is out) and one log
 * line; it never reaches the process, which carries every call of its pod.
 */
export class ProxyServer implements PipelineContext {
  readonly server: NodeHttp.Server;
  /** Serves inbound connections that speak HTTP/1.x (only with inbound capture). */
  readonly inboundServer: NodeHttp.Server | undefined;
  readonly inboundListeners: readonly InboundListener[];
  /** HTTP/2 (h2c, prior knowledge) on the same listeners: sidecar/h2/, loaded when used. */
  readonly h2: LazyH2Server;
  readonly local: LocalPod | undefined;
  readonly mode: ProxyMode;
  readonly upstreams: Upstreams;
  readonly pipeline: PolicyPipeline;
  readonly accessLog: AccessLog;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** The API-key header as the scan compares it (`keyHeaderForm`). */
  readonly apiKeyHeader: string;
  readonly clientMaxBodySize: number;
  readonly maxHops: number;
  readonly timeouts: ClientTimeouts;
  /** Sockets that left the HTTP server (WebSocket, CONNECT tunnels). */
  readonly tunnels = new Set<Socket>();
  /** Extra listeners handing their connections to `server` (sidecar: [::1]). */
  readonly #extraListeners: net.Server[] = [];
  #table: RouteTable = RouteTable.empty();
  #ready = false;
  #draining = false;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  readonly #hooks: ForwardHooks;
  readonly #tunnelContext: TunnelContext;

  constructor(options: ProxyServerOptions) {
    this.mode = options.mode;
    this.accessLog = options.accessLog;
    this.metrics = options.metrics;
    this.logger =
      options.logger ??
      createLogger({ name: 'detour-proxy', destination: options.accessLog.destination });
    this.apiKeyHeader = keyHeaderForm(options.config.apiKeyHeader);
    this.clientMaxBodySize = options.config.clientMaxBodySize;
    this.maxHops = options.maxHops ?? DEFAULT_MAX_HOPS;
    this.timeouts = { ...DEFAULT_CLIENT_TIMEOUTS, ...options.timeouts };
    const metrics = this.metrics;
    metrics.inFlightSource = () => this.#inFlight;
    metrics.droppedSource = () => this.accessLog.dropped;
    this.upstreams = new Upstreams(options.upstreams, (event) => {
      if (event.kind === 'ejected') metrics.ejections.inc({ reason: event.reason });
    });
    this.pipeline = new PolicyPipeline(
      options.policies ??
        defaultPolicies({
          clientMaxBodySize: this.clientMaxBodySize,
          metrics: this.metrics,
          logger: this.logger,
        }),
    );
    this.#hooks = {
      upstreams: this.upstreams,
      onUpstreamError: (kind) => {
        metrics.upstreamErrors.inc({ kind });
      },
      onRetry: () => {
        metrics.retries.inc();
      },
      onBadResponse: (ex, err) => {
        metrics.upstreamErrors.inc({ kind: 'invalid' });
        this.logger.warn(
          {
            code: 'DETOUR_E_BAD_UPSTREAM_RESPONSE',
            requestId: ex.requestId,
            upstream: ex.upstream?.key,
            err: errorMessage(err),
          },
          'upstream answer cannot be relayed',
        );
      },
    };
    this.#tunnelContext = {
      pipeline: this,
      accessLog: this.accessLog,
      metrics: this.metrics,
      connectTimeoutMs: this.upstreams.options.connectTimeoutMs,
      firstBytesTimeoutMs: this.timeouts.headersMs,
      trackTunnel: (socket) => {
        this.#trackTunnel(socket);
      },
      serveAsHttp: (socket) => {
        this.tunnels.delete(socket); // an ordinary connection of the HTTP server from now on
        this.#checkIdle();
        this.server.emit('connection', socket);
      },
      hasHost: (name) => this.#table.hasHost(name),
      fail: (where, err, requestId) => {
        this.#logFailure(where, err, requestId);
      },
    };
    const timeouts = this.timeouts;
    this.h2 = new LazyH2Server(
      {
        pipeline: this,
        accessLog: this.accessLog,
        metrics: this.metrics,
        logger: this.logger,
        clientMaxBodySize: this.clientMaxBodySize,
        idleMs: timeouts.keepAliveMs,
        upstreamIdleMs: this.upstreams.options.bodyIdleTimeoutMs,
        streamStarted: () => {
          this.#inFlight++;
        },
        streamEnded: () => {
          this.#inFlight--;
          this.#checkIdle();
        },
      },
      (err) => {
        this.#logFailure('h2', err, undefined);
      },
    );
    this.server = this.#createServer('outbound');
    this.#servePreface(this.server, timeouts.headersMs);
    this.server.on('upgrade', (req: NodeHttp.IncomingMessage, socket: Socket, head: Buffer) => {
      this.#guardSocket('upgrade', socket, () => {
        handleUpgrade(this.#tunnelContext, req, socket, head);
      });
    });
    this.server.on('connect', (req: NodeHttp.IncomingMessage, socket: Socket, head: Buffer) => {
      this.#guardSocket('connect', socket, () => {
        handleConnect(this.#tunnelContext, req, socket, head);
      });
    });
    this.local = options.pod;
    const inbound = options.inbound ?? [];
    const pod = options.pod;
    if (inbound.length === 0 || pod === undefined) {
      this.inboundServer = undefined;
      this.inboundListeners = [];
    } else {
      // CONNECT is not served inbound (Node closes such a socket); upgrades are, checked
      // as any inbound request and spliced to the app (a WebSocket between two pods).
      this.inboundServer = this.#createServer('inbound');
      this.inboundServer.on(
        'upgrade',
        (req: NodeHttp.IncomingMessage, socket: Socket, head: Buffer) => {
          this.#guardSocket('upgrade', socket, () => {
            const appPort = (socket as InboundSocket)[kAppPort];
            handleUpgrade(this.#tunnelContext, req, socket, head, 'inbound', appPort);
          });
        },
      );
      const context: InboundContext = {
        local: pod,
        accessLog: this.accessLog,
        metrics: this.metrics,
        connectTimeoutMs: this.upstreams.options.connectTimeoutMs,
        sniffMs: INBOUND_SNIFF_MS,
        sniffLimitMs: timeouts.headersMs,
        trackTunnel: (socket) => {
          this.#trackTunnel(socket);
        },
        serveHttp: (socket, appPort) => {
          this.tunnels.delete(socket);
          this.#checkIdle();
          (socket as InboundSocket)[kAppPort] = appPort;
          this.inboundServer?.emit('connection', socket);
        },
        serveH2: (socket, appPort) => {
          this.tunnels.delete(socket);
          this.#checkIdle();
          this.h2.serve(socket, 'inbound', appPort);
        },
      };
      this.inboundListeners = inbound.map((port) => new InboundListener(context, port));
    }
  }

  #createServer(direction: Direction): NodeHttp.Server {
    const timeouts = this.timeouts;
    return http.createServer(
      {
        keepAliveTimeout: timeouts.keepAliveMs,
        // The whole exchange may take as long as it takes (uploads, downloads, streams);
        // what is bounded is silence: the head's arrival, the body's idle gaps, and
        // the upstream side's connect, queue, headers and body-idle deadlines.
        requestTimeout: 0,
        headersTimeout: timeouts.headersMs,
        // Node checks the head deadline on this sweep (30 s by default), so without it
        // a slow-header client holds its socket up to 30 s past `headersTimeout`.
        // https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener
        connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs),
      },
      (req, res) => {
        this.#onRequest(req, res, direction);
      },
    );
  }

  /**
   * HTTP/1.1 and h2c on one port: every connection `server` accepts (or is handed) is
   * first read for the HTTP/2 preface; node:http's own connection handler gets the rest.
   */
  #servePreface(server: NodeHttp.Server, timeoutMs: number): void {
    const http1 = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const toHttp1 = (socket: Socket): void => {
      for (const listener of http1) listener.call(server, socket);
    };
    const toH2 = (socket: Socket): void => {
      this.h2.serve(socket, 'outbound');
    };
    server.on('connection', (socket: Socket) => {
      routeByPreface(socket, timeoutMs, toHttp1, toH2);
    });
  }

  get policies(): PolicyPipeline {
    return this.pipeline;
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
   * One more address for the same server (the sidecar's `[::1]`, where ip6tables'
   * REDIRECT of the app's IPv6 connections lands): its connections are handed to the
   * HTTP server as they arrive.
   */
  async listenAlso(port: number, host: string): Promise<AddressInfo> {
    const extra = net.createServer((socket) => {
      this.server.emit('connection', socket);
    });
    const address = await listenOn(extra, port, host);
    this.#extraListeners.push(extra);
    return address;
  }

  /**
   * The inbound listeners, on every address (`::`, or `0.0.0.0` without IPv6): REDIRECT in
   * PREROUTING rewrites the destination to the address the packet came in on, the pod IP.
   */
  async listenInbound(host?: string): Promise<AddressInfo[]> {
    const addresses: AddressInfo[] = [];
    for (const listener of this.inboundListeners) {
      if (host !== undefined) {
        addresses.push(await listener.listen(host));
        continue;
      }
      try {
        addresses.push(await listener.listen('::'));
      } catch {
        addresses.push(await listener.listen('0.0.0.0'));
      }
    }
    return addresses;
  }

  #closeExtraListeners(): void {
    for (const extra of this.#extraListeners) extra.close();
    this.#extraListeners.length = 0;
    for (const listener of this.inboundListeners) listener.close();
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (new requests
   * on open keep-alive connections are still served, with `Connection: close`), then cut
   * whatever is left after `timeoutMs`. Resolves true when everything finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    this.#closeExtraListeners();
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    this.server.closeIdleConnections();
    this.inboundServer?.closeIdleConnections();
    this.h2.drain();
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
    this.inboundServer?.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    this.h2.destroy();
    await closed;
    if (inTime) await this.upstreams.close();
    else await this.upstreams.destroy();
    await this.pipeline.close();
    return inTime;
  }

  /** Closes everything now (tests). */
  async close(): Promise<void> {
    this.#draining = true;
    this.#closeExtraListeners();
    this.server.closeAllConnections();
    this.inboundServer?.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    this.h2.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    await this.upstreams.destroy();
    await this.pipeline.close();
  }

  #trackTunnel(socket: Socket): void {
    this.tunnels.add(socket);
    socket.once('close', () => {
      this.tunnels.delete(socket);
      this.#checkIdle();
    });
  }

  #checkIdle(): void {
    if (this.#idle !== undefined && this.#inFlight === 0 && this.tunnels.size === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  #onRequest(
    req: NodeHttp.IncomingMessage,
    res: NodeHttp.ServerResponse,
    direction: Direction,
  ): void {
    const ex = new Exchange(req, res, performance.now(), this);
    ex.direction = direction;
    this.#inFlight++;
    (res as TrackedResponse)[kExchange] = ex;
    res.on('close', onResponseClose);
    if (this.#draining) res.shouldKeepAlive = false;
    try {
      this.#start(ex);
    } catch (err) {
      this.#fail(ex, err);
    }
  }

  #start(ex: Exchange): void {
    const req = ex.req;
    const scanned = scanRequestHeaders(req.rawHeaders, this.apiKeyHeader);
    ex.requestId = scanned.requestId ?? randomUUID();
    const target = splitRequestTarget(req.url ?? '/');
    if (target === undefined) {
      this.#answer(
        ex,
        'DETOUR_E_BAD_REQUEST',
        `cannot route request target ${clip(req.url ?? '')}`,
      );
      return;
    }
    // Absolute-form (a client configured with HTTP_PROXY): the target's authority
    // replaces Host. https://www.rfc-editor.org/rfc/rfc9112#section-3.2.2
    ex.host = target.authority ?? scanned.host;
    ex.path = target.path;
    const decision = decide(this, {
      req,
      host: ex.host,
      path: ex.path,
      scanned,
      requestId: ex.requestId,
      direction: ex.direction,
      appPort: (req.socket as InboundSocket)[kAppPort],
      notes: ex,
    });
    if (decision instanceof Promise) {
      decision.then(
        (d) => {
          this.#act(ex, scanned, d);
        },
        (err: unknown) => {
          this.#fail(ex, err);
        },
      );
      return;
    }
    this.#act(ex, scanned, decision);
  }

  #act(ex: Exchange, scanned: ScannedRequest, decision: Decision): void {
    try {
      if (decision.kind === 'refuse') {
        if (decision.route !== undefined) {
          ex.route = decision.route;
          ex.routeLabel = decision.route.id;
        }
        if (decision.answer !== undefined) this.#relay(ex, decision.answer);
        else this.#answer(ex, decision.code, decision.detail, decision.close, decision.headers);
        return;
      }
      if (ex.res.destroyed) return; // the client left while an asynchronous check ran
      if (decision.kind === 'route' || decision.kind === 'local') {
        ex.route = decision.route;
        ex.routeLabel = decision.route.id;
        this.#prepare(ex, scanned, this.clientMaxBodySize);
      } else {
        ex.routeLabel = 'passthrough';
        this.#prepare(ex, scanned, 0);
      }
      forward(ex, decision.upstream, this.#hooks);
    } catch (err) {
      this.#fail(ex, err);
    }
  }

  #prepare(ex: Exchange, scanned: ScannedRequest, limit: number): void {
    const req = ex.req;
    ex.idempotent = isIdempotent(ex.method);
    const source = sourceOf(this, ex.direction, scanned);
    const headers = addProxyHeaders(
      scanned,
      ex.host,
      req.socket.remoteAddress ?? '',
      ex.requestId,
      source,
    );
    const rules = ex.route?.policy?.requestHeaders;
    ex.headers = rules === undefined ? headers : applyHeaderRules(headers, rules);
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
    if (ex.body !== null && this.timeouts.bodyIdleMs > 0) this.#watchBody(ex);
  }

  /**
   * The request body may pause, not stall: a socket silent for `bodyIdleMs` while the
   * body is still due gets 408 (or is cut, once the answer started). The socket's own
   * timer is used, so no `data` listener is attached to a stream undici reads.
   */
  #watchBody(ex: Exchange): void {
    const req = ex.req;
    const socket = req.socket;
    if (req.complete) return;
    req.setTimeout(this.timeouts.bodyIdleMs, () => {
      if (req.complete) return;
      // A timer callback is outside the request's guard: anything thrown here would end
      // the process, so it is guarded again.
      try {
        // Set before the abort: the upstream exchange's error callback then leaves the
        // answer to this one (it used to answer 502 first, and `req.socket`, detached
        // by that answer, was null below: a TypeError that ended the process).
        ex.error = 'DETOUR_E_BODY_TIMEOUT';
        ex.controller?.abort(new Error('request body idle timeout'));
        if (ex.res.headersSent) {
          ex.res.destroy(); // the answer is under way: cut it
          return;
        }
        // `connection: close`: Node ends the socket once the answer is out, and the rest
        // of the body is never read.
        ex.bytesOut = sendAnswer(
          ex.res,
          'DETOUR_E_BODY_TIMEOUT',
          ex.requestId,
          `${this.timeouts.bodyIdleMs} ms`,
          true,
        );
      } catch (err) {
        this.#fail(ex, err);
      }
    });
    req.once('end', () => {
      // Back to Node's own keep-alive handling (it sets its timer when the answer ends).
      if (!ex.res.writableFinished) socket.setTimeout(0);
    });
  }

  #answer(
    ex: Exchange,
    code: ProxyAnswerCode,
    detail?: string,
    close = false,
    headers?: readonly string[],
  ): void {
    ex.error = code;
    ex.bytesOut = sendAnswer(ex.res, code, ex.requestId, detail, close || this.#draining, headers);
  }

  /** A policy's answer relayed as it is (the auth service's refusal): its status, headers, body. */
  #relay(ex: Exchange, answer: PolicyAnswer): void {
    const res = ex.res;
    const headers = [...answer.headers, 'content-length', String(answer.body.length)];
    if (this.#draining) headers.push('connection', 'close');
    res.writeHead(answer.status, headers);
    res.end(answer.body);
    ex.bytesOut = answer.body.length;
  }

  /**
   * The guard's answer to an exception in a request's handling: 500 with the request id
   * while nothing was sent, else the connection is cut; logged once with the code.
   */
  #fail(ex: Exchange, err: unknown): void {
    this.#logFailure('request', err, ex.requestId);
    ex.error = 'DETOUR_E_INTERNAL';
    ex.controller?.abort(new Error('proxy error'));
    try {
      if (!ex.res.headersSent) {
        ex.bytesOut = sendAnswer(ex.res, 'DETOUR_E_INTERNAL', ex.requestId, undefined, true);
        return;
      }
    } catch {
      // The answer itself failed: all that is left is to hang up.
    }
    ex.res.destroy();
  }

  #guardSocket(where: string, socket: Socket, handle: () => void): void {
    try {
      handle();
    } catch (err) {
      this.#logFailure(where, err, undefined);
      socket.destroy();
    }
  }

  #logFailure(where: string, err: unknown, requestId: string | undefined): void {
    this.metrics.internalErrors.inc({ where });
    this.logger.error(
      {
        code: 'DETOUR_E_INTERNAL',
        where,
        requestId,
        err: errorMessage(err),
        stack: err instanceof Error ? err.stack : undefined,
      },
      'request handling failed; answered for this request only',
    );
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
    this.metrics.observe(ex.direction, ex.routeLabel, status, ms / 1000);
    this.#checkIdle();
  }
}

/** Client text echoed in an answer is cut to a readable length. */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function onResponseClose(this: TrackedResponse): void {
  const ex = this[kExchange];
  if (ex !== undefined) onResponseClosed(ex);
}
