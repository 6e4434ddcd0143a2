import { Pool } from 'undici';
import { endpointKey, type Endpoint, type Route } from './route-table.js';

/**
 * Connection pools and health per upstream endpoint. One undici Pool per `ip:port`
 * (keep-alive, no pipelining, a connection cap), shared by every route that points at
 * the endpoint and kept across table updates, so a route update does not drop warm
 * connections or in-flight requests.
 *
 * Endpoint choice is round robin per route over endpoints that are not ejected. An
 * endpoint is ejected for a while after a connect failure or after `consecutive5xx`
 * 5xx answers in a row (Envoy's outlier detection, simplified:
 * https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier).
 * When every endpoint of a route is ejected, the proxy tries them anyway (Envoy's
 * "panic mode"): ejection is a guess, and a guess must not turn into a total outage.
 */
export interface UpstreamOptions {
  /** Connection cap per endpoint; further requests wait in the endpoint's queue. */
  connections: number;
  /** Requests that may wait for a connection per endpoint; more get 503 at once. */
  queueLimit: number;
  /** How long a request may wait for a connection before it gets 503. */
  queueTimeoutMs: number;
  connectTimeoutMs: number;
  /** Time to wait for the response headers once the request was sent. */
  headersTimeoutMs: number;
  /** Time the response body may stay silent before the answer is cut (0: never). */
  bodyIdleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** First ejection lasts this long; each further one in a row adds as much again. */
  ejectBaseMs: number;
  ejectMaxMs: number;
  consecutive5xx: number;
  /** Pools unused for this long are closed (endpoints that left the table). */
  idlePoolMs: number;
}

/**
 * Defaults after Envoy's and HAProxy's: Envoy's circuit breaker allows 1024 pending
 * requests per cluster and its stream idle timeout is 5 minutes
 * (https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts); HAProxy's
 * `timeout queue` bounds the wait for a server slot.
 */
export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  connections: 128,
  queueLimit: 1024,
  queueTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 60_000,
  bodyIdleTimeoutMs: 300_000,
  keepAliveTimeoutMs: 4_000,
  ejectBaseMs: 5_000,
  ejectMaxMs: 60_000,
  consecutive5xx: 5,
  idlePoolMs: 120_000,
};

export type UpstreamEvent =
  | { kind: 'ejected'; key: string; reason: 'connect' | '5xx'; forMs: number }
  | { kind: 'pool-closed'; key: string };

/** A request waiting for a free connection to an endpoint. */
export interface Waiter {
  readonly run: () => void;
  readonly timer: NodeJS.Timeout;
}

export class Upstream {
  /** `ip:port`, or `host:port` for passthrough. */
  readonly key: string;
  /** IP (endpoint) or name (passthrough), without brackets. */
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  ejectedUntil = 0;
  ejections = 0;
  consecutive5xx = 0;
  lastUsed = 0;
  /**
   * Requests dispatched and not finished. detour keeps its own count and queue rather
   * than undici's, whose queue has neither a bound nor a deadline: a request waits at
   * most `queueTimeoutMs` for one of the `connections`, and at most `queueLimit` wait.
   */
  active = 0;
  readonly waiting: Waiter[] = [];

  constructor(host: string, port: number, options: UpstreamOptions) {
    this.host = host;
    this.port = port;
    this.key = endpointKey(host, port);
    this.pool = new Pool(`http://${bracket(host)}:${port}`, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      headersTimeout: options.headersTimeoutMs,
      // Streams (downloads, SSE, long polls) may be quiet for a while, not for ever.
      bodyTimeout: options.bodyIdleTimeoutMs,
    });
  }
}

export class Upstreams {
  readonly options: UpstreamOptions;
  readonly #endpoints = new Map<string, Upstream>();
  readonly #passthrough = new Map<string, Upstream>();
  readonly #cursors = new Map<string, number>();
  readonly #onEvent: (event: UpstreamEvent) => void;
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    options: Partial<UpstreamOptions> = {},
    onEvent: (event: UpstreamEvent) => void = () => undefined,
  ) {
    this.options = { ...DEFAULT_UPSTREAM_OPTIONS, ...options };
    this.#onEvent = onEvent;
    this.#sweeper = setInterval(
      () => {
        this.sweep(Date.now());
      },
      Math.max(1_000, this.options.idlePoolMs / 2),
    );
    this.#sweeper.unref();
  }

  /**
   * The next endpoint of `route` in round-robin order that is not ejected (and is not
   * `exclude`, the endpoint a retry moves away from). undefined: the route has no
   * endpoint to try.
   */
  pick(route: Route, exclude?: Upstream): Upstream | undefined {
    const endpoints = route.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    const cursor = this.#cursors.get(route.id) ?? 0;
    const now = Date.now();
    let fallback: Upstream | undefined;
    for (let i = 0; i < n; i++) {
      const upstream = this.#endpoint(endpoints[(cursor + i) % n] as Endpoint);
      if (upstream === exclude) continue;
      if (upstream.ejectedUntil <= now) {
        this.#cursors.set(route.id, (cursor + i + 1) % n);
        upstream.lastUsed = now;
        return upstream;
      }
      if (fallback === undefined || upstream.ejectedUntil < fallback.ejectedUntil) {
        fallback = upstream;
      }
    }
    // Panic mode: everything left is ejected; try the one whose ejection ends first.
    if (fallback !== undefined) {
      this.#cursors.set(route.id, (cursor + 1) % n);
      fallback.lastUsed = now;
    }
    return fallback;
  }

  /** A pool for a host the table does not know (sidecar passthrough), by name. */
  passthrough(host: string, port: number): Upstream {
    const key = endpointKey(host, port);
    let upstream = this.#passthrough.get(key);
    if (upstream === undefined) {
      upstream = new Upstream(host, port, this.options);
      this.#passthrough.set(key, upstream);
    }
    upstream.lastUsed = Date.now();
    return upstream;
  }

  /** The endpoint could not be connected to: eject it now. */
  connectFailed(upstream: Upstream): void {
    upstream.consecutive5xx = 0;
    this.#eject(upstream, 'connect');
  }

  /** An answer arrived: count 5xx in a row, forgive everything else. */
  answered(upstream: Upstream, status: number): void {
    if (status >= 500) {
      upstream.consecutive5xx++;
      if (upstream.consecutive5xx >= this.options.consecutive5xx) {
        upstream.consecutive5xx = 0;
        this.#eject(upstream, '5xx');
      }
      return;
    }
    upstream.consecutive5xx = 0;
    if (upstream.ejections !== 0 && upstream.ejectedUntil <= Date.now()) upstream.ejections = 0;
  }

  isEjected(key: string, now = Date.now()): boolean {
    const upstream = this.#endpoints.get(key);
    return upstream !== undefined && upstream.ejectedUntil > now;
  }

  get size(): number {
    return this.#endpoints.size + this.#passthrough.size;
  }

  /** Closes pools nobody used for `idlePoolMs` (gracefully: queued requests finish). */
  sweep(now: number): void {
    for (const map of [this.#endpoints, this.#passthrough]) {
      for (const [key, upstream] of map) {
        const idle = now - upstream.lastUsed >= this.options.idlePoolMs;
        if (idle && upstream.active === 0 && upstream.ejectedUntil <= now) {
          map.delete(key);
          void upstream.pool.close().catch(() => undefined);
          this.#onEvent({ kind: 'pool-closed', key });
        }
      }
    }
  }

  /**
   * Bounds the round-robin cursors after a table swap: cursors of routes that left the
   * table would otherwise pile up. Starting some routes' rotation over is harmless.
   */
  trimCursors(routeCount: number): void {
    if (this.#cursors.size > 2 * routeCount + 1024) this.#cursors.clear();
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    const pools = [...this.#endpoints.values(), ...this.#passthrough.values()].map((u) => u.pool);
    this.#endpoints.clear();
    this.#passthrough.clear();
    await Promise.all(pools.map((p) => p.close().catch(() => undefined)));
  }

  /** Tears every connection down now (drain timeout expired). */
  async destroy(): Promise<void> {
    clearInterval(this.#sweeper);
    const pools = [...this.#endpoints.values(), ...this.#passthrough.values()].map((u) => u.pool);
    this.#endpoints.clear();
    this.#passthrough.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }

  #endpoint(endpoint: Endpoint): Upstream {
    let upstream = this.#endpoints.get(endpoint.key);
    if (upstream === undefined) {
      upstream = new Upstream(endpoint.ip, endpoint.port, this.options);
      this.#endpoints.set(endpoint.key, upstream);
    }
    return upstream;
  }

  #eject(upstream: Upstream, reason: 'connect' | '5xx'): void {
    const now = Date.now();
    if (upstream.ejectedUntil > now) return;
    upstream.ejections++;
    const forMs = Math.min(this.options.ejectMaxMs, this.options.ejectBaseMs * upstream.ejections);
    upstream.ejectedUntil = now + forMs;
    this.#onEvent({ kind: 'ejected', key: upstream.key, reason, forMs });
  }
}

function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
