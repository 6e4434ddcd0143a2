import type { RouteTable } from '../route-table.js';

/**
 * Where a proxy's routes come from: `file:PATH` (sidecar/sources/file-source.ts, a YAML
 * file of Kubernetes objects compiled locally) or `kube` (sidecar/sources/kube-source.ts,
 * the plane's RouteTables watched on the API server). A source hands over whole,
 * immutable tables; the proxy swaps its current table for each one it is given.
 */
export interface RouteSource {
  /** `file:/path` or `kube`, for logs and `/routes`. */
  readonly description: string;
  /**
   * Delivers tables via `onTable`; resolves once the first complete table was delivered,
   * rejects (with a DetourError) when no first table can be had.
   */
  start(onTable: (table: RouteTable) => void): Promise<void>;
  /** Stops watching; no `onTable` call happens after the returned promise resolves. */
  stop(): Promise<void>;
}
