import type { Dispatcher } from 'undici';

/**
 * What a kubeconfig's `applySecurityAuthentication` writes on a request: headers (a
 * bearer token, basic auth) and the dispatcher that carries the cluster's CA and client
 * certificate. client-node's KubeConfig writes exactly these on its RequestContext
 * (`setHeaderParam`, `setDispatcher`; ReusedConnections also reads `getDispatcher`).
 */
export interface AuthContext {
  setHeaderParam(key: string, value: string): void;
  setDispatcher(dispatcher: Dispatcher): void;
  getDispatcher(): Dispatcher | undefined;
}

/**
 * The context detour's own list and watch requests hand to the kubeconfig, instead of
 * client-node's RequestContext: that module imports client-node's fetch wrapper, which
 * loads undici's fetch and Node's WHATWG streams into the proxy for nothing (about
 * 1.5 MB of RSS in every injected proxy, issue 13).
 */
export class RequestAuth implements AuthContext {
  readonly headers: Record<string, string> = {};
  #dispatcher: Dispatcher | undefined;

  setHeaderParam(key: string, value: string): void {
    this.headers[key] = value;
  }

  setDispatcher(dispatcher: Dispatcher): void {
    this.#dispatcher = dispatcher;
  }

  getDispatcher(): Dispatcher | undefined {
    return this.#dispatcher;
  }
}
