import type { KubeConfig } from '@kubernetes/client-node';
import { kubeJson, kubeRequest, type KubeAnswer } from '../shared/kube/kube-request.js';

/** Each request gives up after this: two of them still fit `detour check`'s 10 s bound. */
export const REQUEST_TIMEOUT_MS = 4_000;

/** The minimal object shape the checks read. */
export interface KubeItem {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    resourceVersion?: string;
    managedFields?: { manager?: string; time?: string }[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/**
 * Read-mostly access to the API server for `detour check` and `detour status`: every
 * call bounded by a timeout, answers as plain JSON (the checks read a few fields, so
 * the generated models would add weight and no safety).
 */
export class ClusterReader {
  readonly kc: KubeConfig;
  readonly #timeoutMs: number;

  constructor(kc: KubeConfig, timeoutMs = REQUEST_TIMEOUT_MS) {
    this.kc = kc;
    this.#timeoutMs = timeoutMs;
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '(no server)';
  }

  get(path: string, query: Record<string, string> = {}): Promise<unknown> {
    return kubeJson(this.kc, { path, query, signal: AbortSignal.timeout(this.#timeoutMs) });
  }

  /** The items of a list, typed as the caller reads them (the API server's schema). */
  async list<T = KubeItem>(path: string, query: Record<string, string> = {}): Promise<T[]> {
    const list = (await this.get(path, query)) as { items?: T[] };
    return list.items ?? [];
  }

  post(path: string, body: unknown, query: Record<string, string> = {}): Promise<unknown> {
    return kubeJson(this.kc, {
      method: 'POST',
      path,
      query,
      body,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
  }

  /** The answer whatever its status (pods/proxy passes the pod's own status through). */
  raw(path: string): Promise<KubeAnswer> {
    return kubeRequest(this.kc, { path, signal: AbortSignal.timeout(this.#timeoutMs) });
  }
}
