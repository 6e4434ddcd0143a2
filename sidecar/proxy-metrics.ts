import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createProcessRegistry } from '../shared/process-metrics.js';
import { RequestStats } from './request-stats.js';
import { StreamStats } from './stream-stats.js';
import type { Direction } from './traffic.js';

/**
 * The proxy's Prometheus metrics, served on the admin port's `/metrics`. Label sets are
 * kept small: route ids are bounded by the table, statuses by HTTP.
 */
export class ProxyMetrics {
  readonly registry: Registry;
  /** detour_proxy_requests_total and detour_proxy_request_duration_seconds. */
  readonly requests = new RequestStats();
  /** detour_proxy_h2_streams_total: HTTP/2 streams by direction and gRPC status. */
  readonly h2Streams = new StreamStats();
  readonly upstreamErrors: Counter<'kind'>;
  readonly retries: Counter;
  readonly internalErrors: Counter<'where'>;
  /** forwardAuth calls by result (allowed, denied, cached, unavailable, open). */
  readonly authRequests: Counter<'result'>;
  readonly authDuration: Histogram<'result'>;
  readonly rateLimited: Counter<'policy'>;
  readonly ejections: Counter<'reason'>;
  readonly routes: Gauge;
  readonly tableUpdates: Counter;
  readonly tableVersion: Gauge;
  readonly inFlight: Gauge;
  readonly accessLogDropped: Gauge;
  /** What the in-flight gauge reports (the proxy server plugs its counter in). */
  inFlightSource: () => number = () => 0;
  /** What the dropped-lines gauge reports (the access log's count). */
  droppedSource: () => number = () => 0;

  constructor(registry: Registry = createProcessRegistry()) {
    this.registry = registry;
    const registers = [registry];
    this.requests.register(
      registry,
      'detour_proxy_requests_total',
      'detour_proxy_request_duration_seconds',
    );
    this.h2Streams.register(registry, 'detour_proxy_h2_streams_total');
    this.upstreamErrors = new Counter({
      name: 'detour_proxy_upstream_errors_total',
      help: 'Failed upstream attempts: connect (refused, unreachable), timeout, reset, invalid (an answer that cannot be relayed)',
      labelNames: ['kind'],
      registers,
    });
    this.internalErrors = new Counter({
      name: 'detour_proxy_internal_errors_total',
      help: 'Exceptions caught by the request guard (answered 500 for that request only), by entry point',
      labelNames: ['where'],
      registers,
    });
    this.authRequests = new Counter({
      name: 'detour_proxy_auth_requests_total',
      help: 'ApiPolicy forwardAuth steps by result: allowed, denied, cached, unavailable (503), open (let through)',
      labelNames: ['result'],
      registers,
    });
    this.authDuration = new Histogram({
      name: 'detour_proxy_auth_duration_seconds',
      help: 'Time the auth service took to answer a forwardAuth call, by result',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'detour_proxy_rate_limited_total',
      help: 'Requests refused with 429 by an ApiPolicy rateLimit, by policy',
      labelNames: ['policy'],
      registers,
    });
    this.retries = new Counter({
      name: 'detour_proxy_retries_total',
      help: 'Idempotent requests retried on another endpoint',
      registers,
    });
    this.ejections = new Counter({
      name: 'detour_proxy_ejections_total',
      help: 'Endpoints ejected from load balancing, by reason (connect, 5xx)',
      labelNames: ['reason'],
      registers,
    });
    this.routes = new Gauge({
      name: 'detour_proxy_routes',
      help: 'Routes in the current table',
      registers,
    });
    this.tableUpdates = new Counter({
      name: 'detour_proxy_table_updates_total',
      help: 'Route tables swapped in',
      registers,
    });
    this.tableVersion = new Gauge({
      name: 'detour_proxy_table_version',
      help: 'Version of the current route table (monotonic per process)',
      registers,
    });
    const source = (): number => this.inFlightSource();
    const dropped = (): number => this.droppedSource();
    this.accessLogDropped = new Gauge({
      name: 'detour_proxy_access_log_dropped_lines',
      help: 'Access-log lines dropped since start because stdout could not keep up',
      registers,
      collect() {
        this.set(dropped());
      },
    });
    this.inFlight = new Gauge({
      name: 'detour_proxy_requests_in_flight',
      help: 'Requests being proxied right now',
      registers,
      // Read at scrape time: no work per request.
      collect() {
        this.set(source());
      },
    });
  }

  observe(direction: Direction, route: string, status: number, seconds: number): void {
    this.requests.record(direction, route, status, seconds);
  }

  /** One HTTP/2 stream ended (its request is in `observe` too); `grpc`: its gRPC status. */
  countStream(direction: Direction, grpc: number | undefined): void {
    this.h2Streams.record(direction, grpc);
  }
}
