import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { KubeAccess } from './kube-access.js';
import { fetch } from 'undici';
import { DetourError } from '../errors.js';

/** A non-2xx answer from the API server, with its HTTP status and Status reason. */
export class KubeApiError extends DetourError {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly path: string,
  ) {
    super('DETOUR_E_KUBE', `${path}: HTTP ${statusCode} ${reason}: ${message}`, {
      statusCode,
      reason,
      path,
    });
  }
}

/**
 * GET a JSON document with the kubeconfig's credentials and TLS settings, the same way
 * client-node's Watch does (RequestContext + undici), so lists and watches share one
 * authentication path. Paged lists need the raw `continue` token; the generated API
 * clients would do but need one method per kind.
 */
export async function kubeGetJson(
  kc: KubeAccess,
  path: string,
  query: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new DetourError('DETOUR_E_KUBE', 'no current cluster');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
  }
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const response = await fetch(url, {
    headers: { ...ctx.getHeaders(), accept: 'application/json' },
    dispatcher: ctx.getDispatcher(),
    signal: signal ?? null,
  });
  const text = await response.text();
  if (!response.ok) {
    let reason = response.statusText;
    let message = text.slice(0, 300);
    try {
      const status = JSON.parse(text) as { reason?: string; message?: string };
      reason = status.reason ?? reason;
      message = status.message ?? message;
    } catch {
      // not a Status object: keep the raw text
    }
    throw new KubeApiError(response.status, reason, message, path);
  }
  return JSON.parse(text) as unknown;
}
