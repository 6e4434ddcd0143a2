import fs from 'node:fs';
import net from 'node:net';
import { Agent } from 'undici';
import type { Cluster } from '@kubernetes/client-node';
import type { AuthContext } from './request-auth.js';
import { DetourError } from '../errors.js';

/** Where the kubelet mounts a pod's ServiceAccount credentials. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Bound ServiceAccount tokens expire and the kubelet rewrites the file before they do;
 * client-go re-reads it at most once a minute, and so do we.
 * https://kubernetes.io/docs/concepts/security/service-accounts/#bound-service-account-tokens
 */
const TOKEN_REREAD_MS = 60_000;

export interface ServiceAccountAccessOptions {
  /** https://host:port of the API server. */
  server: string;
  /** PEM of the cluster CA. */
  caPem: string;
  /** File holding the bearer token; read again every minute. */
  tokenFile: string;
  /** How often the token file is read again (default one minute). */
  tokenRereadMs?: number;
}

/**
 * In-cluster credentials without client-node's KubeConfig: the API server from
 * KUBERNETES_SERVICE_HOST/PORT, the CA and token from the mounted ServiceAccount, as
 * client-go's rest.InClusterConfig does. It satisfies KubeAccess, so lists and watches
 * use it exactly as they use a KubeConfig.
 */
export class ServiceAccountAccess {
  readonly #cluster: Cluster;
  readonly #dispatcher: Agent;
  #token = '';
  #readAt = 0;

  readonly #options: ServiceAccountAccessOptions;

  constructor(options: ServiceAccountAccessOptions) {
    this.#options = options;
    this.#cluster = { name: 'in-cluster', server: options.server, skipTLSVerify: false };
    this.#dispatcher = new Agent({ connect: { ca: options.caPem } });
  }

  /** The pod's own credentials, or undefined when not running in a pod. */
  static fromPod(
    env: NodeJS.ProcessEnv = process.env,
    dir = SERVICE_ACCOUNT_DIR,
    tokenRereadMs = TOKEN_REREAD_MS,
  ): ServiceAccountAccess | undefined {
    const host = env.KUBERNETES_SERVICE_HOST ?? '';
    const port = env.KUBERNETES_SERVICE_PORT ?? '';
    if (host === '' || port === '') return undefined;
    const caFile = `${dir}/ca.crt`;
    const tokenFile = `${dir}/token`;
    if (!fs.existsSync(caFile) || !fs.existsSync(tokenFile)) return undefined;
    // An IPv6 service host needs brackets in a URL (RFC 3986 §3.2.2).
    const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    return new ServiceAccountAccess({
      server: `https://${authority}`,
      caPem: fs.readFileSync(caFile, 'utf8'),
      tokenFile,
      tokenRereadMs,
    });
  }

  getCurrentCluster(): Cluster {
    return this.#cluster;
  }

  applySecurityAuthentication(context: AuthContext): Promise<void> {
    context.setHeaderParam('Authorization', `Bearer ${this.#currentToken()}`);
    context.setDispatcher(this.#dispatcher);
    return Promise.resolve();
  }

  #currentToken(): string {
    const now = Date.now();
    if (
      this.#token === '' ||
      now - this.#readAt >= (this.#options.tokenRereadMs ?? TOKEN_REREAD_MS)
    ) {
      try {
        this.#token = fs.readFileSync(this.#options.tokenFile, 'utf8').trim();
        this.#readAt = now;
      } catch (err) {
        // Keep the last token when a rotation is mid-write; fail only if we never had one.
        if (this.#token === '') {
          throw new DetourError(
            'DETOUR_E_KUBE',
            `cannot read the ServiceAccount token ${this.#options.tokenFile}: ${(err as Error).message}`,
          );
        }
      }
    }
    return this.#token;
  }
}
