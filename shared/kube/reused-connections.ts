import type { Dispatcher } from 'undici';
import type { Cluster } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { KubeAccess } from './kube-access.js';

/** How long one set of connections serves before a fresh one takes over. */
const REUSE_MS = 5 * 60_000;

/**
 * client-node's KubeConfig gives every request a new undici Agent, so every request
 * opens a new TLS connection to the API server: a full sync of 500 namespaces paid 1,000
 * handshakes (issue 13). This KubeAccess asks the kubeconfig for credentials as usual
 * (headers such as a refreshed bearer token apply to each request) but sends the
 * request through one kept-alive Agent. That Agent is replaced by the kubeconfig's
 * fresh one every `reuseMs`, so rotated client certificates or CAs are picked up; the
 * old one closes once its requests are done.
 */
export class ReusedConnections implements KubeAccess {
  #shared: { dispatcher: Dispatcher; since: number } | undefined;
  readonly #access: KubeAccess;
  readonly #reuseMs: number;
  readonly #now: () => number;

  constructor(access: KubeAccess, reuseMs = REUSE_MS, now: () => number = Date.now) {
    this.#access = access;
    this.#reuseMs = reuseMs;
    this.#now = now;
  }

  getCurrentCluster(): Cluster | null {
    return this.#access.getCurrentCluster();
  }

  /** Part of client-node's SecurityAuthentication, so generated API clients take it. */
  getName(): string {
    return 'detour reused connections';
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.#access.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    const now = this.#now();
    if (this.#shared === undefined || now - this.#shared.since >= this.#reuseMs) {
      const old = this.#shared?.dispatcher;
      this.#shared = { dispatcher: fresh, since: now };
      // close() lets requests in flight (a watch included) finish first.
      void old?.close().catch(() => undefined);
      return;
    }
    // The fresh Agent never connected: dropping it costs nothing.
    context.setDispatcher(this.#shared.dispatcher);
  }
}
