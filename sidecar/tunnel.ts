import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AccessLog, LogFacts } from './access-log.js';
import { answerStatus, rawAnswer, type ProxyAnswerCode } from './error-response.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { PipelineContext } from './request-pipeline.js';
import type { PolicyNotes } from './policies/policy.js';
import type { Direction } from './traffic.js';

export type Protocol = 'http' | 'tcp';

/**
 * What the entry points for sockets that leave the HTTP server (upgrades, CONNECT) get
 * of the proxy: the pipeline's context and the few things they do with the server.
 */
export interface TunnelContext extends Reporter {
  readonly pipeline: PipelineContext;
  readonly connectTimeoutMs: number;
  /** How long a tunnel to a route host may stay silent before its first bytes. */
  readonly firstBytesTimeoutMs: number;
  /** Counts the socket as open (drain waits for it) until it closes. */
  trackTunnel(socket: Socket): void;
  /** Hands a tunnel's socket to the HTTP server as a connection of its own. */
  serveAsHttp(socket: Socket): void;
  hasHost(name: string): boolean;
  /** The guard's log line for an exception in an asynchronous step. */
  fail(where: string, err: unknown, requestId: string | undefined): void;
}

/**
 * A raw byte pipe between a client socket that left the HTTP server (WebSocket upgrade,
 * CONNECT) and an upstream socket, with the facts the access log needs. Shared by
 * websocket.ts and connect-tunnel.ts.
 */
export class Tunnel implements LogFacts, PolicyNotes {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly requestId: string;
  readonly start = performance.now();
  routeLabel = '-';
  direction: Direction = 'outbound';
  /** `http` for upgrades and CONNECT (the head was HTTP), `tcp` for raw inbound bytes. */
  protocol: Protocol = 'http';
  upstream: { key: string } | undefined = undefined;
  upstreamSocket: Socket | undefined = undefined;
  policy: string | undefined = undefined;
  auth: string | undefined = undefined;
  authMs: number | undefined = undefined;
  rateLimited: boolean | undefined = undefined;
  status = 0;
  error: ProxyAnswerCode | undefined = undefined;
  #logged = false;

  constructor(method: string, host: string, path: string, requestId: string) {
    this.method = method;
    this.host = host;
    this.path = path;
    this.requestId = requestId;
  }

  get bytesIn(): number {
    return this.upstreamSocket?.bytesWritten ?? 0;
  }

  get bytesOut(): number {
    return this.upstreamSocket?.bytesRead ?? 0;
  }

  /** True the first time only: the tunnel is logged once, whichever side closes first. */
  claimLog(): boolean {
    if (this.#logged) return false;
    this.#logged = true;
    return true;
  }
}

/** Connects with a connect timeout; calls back once, with the socket or the error. */
export function connectUpstream(
  host: string,
  port: number,
  timeoutMs: number,
  done: (err: (Error & { code?: string }) | undefined, socket: Socket) => void,
): Socket {
  const socket = net.connect({ host, port });
  let settled = false;
  const settle = (err: (Error & { code?: string }) | undefined): void => {
    if (settled) return;
    settled = true;
    socket.setTimeout(0);
    socket.off('error', settle);
    done(err, socket);
  };
  socket.setTimeout(timeoutMs, () => {
    const err: Error & { code?: string } = new Error(`connect timeout after ${timeoutMs} ms`);
    err.code = 'UND_ERR_CONNECT_TIMEOUT';
    socket.destroy();
    settle(err);
  });
  socket.once('error', settle);
  socket.once('connect', () => {
    settle(undefined);
  });
  return socket;
}

/** Pipes both ways; either side ending or failing tears the other down. */
export function splice(client: Socket, upstream: Socket, onClose: () => void): void {
  const teardown = (): void => {
    client.destroy();
    upstream.destroy();
    onClose();
  };
  client.on('error', teardown);
  upstream.on('error', teardown);
  client.once('close', teardown);
  upstream.once('close', teardown);
  client.pipe(upstream);
  upstream.pipe(client);
}

interface Reporter {
  readonly accessLog: AccessLog;
  readonly metrics: ProxyMetrics;
}

/** Answers a tunnel request with a proxy error and closes the client socket. */
export function refuseTunnel(
  proxy: Reporter,
  tunnel: Tunnel,
  socket: Socket,
  code: ProxyAnswerCode,
  detail?: string,
): void {
  tunnel.error = code;
  tunnel.status = answerStatus(code);
  socket.end(rawAnswer(code, tunnel.requestId, detail));
  finishTunnel(proxy, tunnel);
}

/** Logs and counts a tunnel once. */
export function finishTunnel(proxy: Reporter, tunnel: Tunnel): void {
  if (!tunnel.claimLog()) return;
  const ms = performance.now() - tunnel.start;
  proxy.accessLog.write(tunnel, tunnel.status, ms);
  proxy.metrics.observe(tunnel.direction, tunnel.routeLabel, tunnel.status, ms / 1000);
}

/** A failed upstream connect as the answer code and the metric kind. */
export function connectFailure(err: Error & { code?: string }): {
  code: ProxyAnswerCode;
  kind: 'connect' | 'timeout';
} {
  return err.code === 'UND_ERR_CONNECT_TIMEOUT'
    ? { code: 'DETOUR_E_TIMEOUT', kind: 'timeout' }
    : { code: 'DETOUR_E_CONNECT', kind: 'connect' };
}
