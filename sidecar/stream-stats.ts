import type { Metric, Registry } from 'prom-client';

/**
 * HTTP/2 streams by direction and gRPC status (`none` for plain HTTP/2), counted in a
 * plain map and read when scraped, as request-stats.ts does and for the same reason:
 * prom-client's labelled inc() hashes its label object on every call.
 */
export class StreamStats {
  /** Key: `direction` + ' ' + gRPC status. */
  readonly #counts = new Map<string, number>();

  record(direction: string, grpc: number | undefined): void {
    const key = `${direction} ${grpc === undefined ? 'none' : String(grpc)}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Streams counted for `direction` and `grpc` (tests, tools). */
  count(direction: string, grpc: number | 'none'): number {
    return this.#counts.get(`${direction} ${String(grpc)}`) ?? 0;
  }

  register(registry: Registry, name: string): void {
    const help =
      'HTTP/2 streams answered, by direction and grpc_status (none: not a gRPC call); every one is also in detour_proxy_requests_total';
    const metric = {
      name,
      help,
      get: () => {
        const values: { labels: Record<string, string>; value: number }[] = [];
        for (const [key, value] of this.#counts) {
          const space = key.indexOf(' ');
          const labels = { direction: key.slice(0, space), grpc_status: key.slice(space + 1) };
          values.push({ labels, value });
        }
        return Promise.resolve({ name, help, type: 'counter', aggregator: 'sum', values });
      },
    };
    // As in request-stats.ts: the Registry serialises any object with name and get().
    registry.registerMetric(metric as unknown as Metric);
  }
}
