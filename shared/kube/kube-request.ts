import type { KubeAccess } from './kube-access.js';
import { RequestAuth } from './request-auth.js';
import { Agent, type Dispatcher } from 'undici';
import { STATUS_CODES } from 'node:http';
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

export interface KubeRequest {
  method?: 'GET' | 'POST';
  path: string;
  /** Parameters left undefined (or empty) are not sent. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal | undefined;
}

/** An API server's answer as it came: the status code and the body text. */
export interface KubeAnswer {
  status: number;
  statusText: string;
  text: string;
}

/** An answer whose body is still to be read (a watch reads it as it comes). */
export interface KubeStream {
  status: number;
  body: Dispatcher.ResponseData['body'];
}

/** Used when the credentials bring no dispatcher of their own (a plain http:// server). */
let plainAgent: Agent | undefined;

/**
 * One request with the kubeconfig's credentials and TLS settings: a RequestAuth gets the
 * headers and the dispatcher (an undici Agent with the cluster's CA and client
 * certificate) from KubeAccess, as client-node's RequestContext would, so lists,
 * watches and the `detour check` probes share one authentication path. It is sent with
 * undici's `request()`, not `fetch`: fetch brings WHATWG streams, which the proxy would
 * load for its watch alone (5 MB of RSS in a bare program, about 1.5 MB in the injected
 * proxy; issue 13, docs/benchmarks.md).
 */
export async function openKubeRequest(kc: KubeAccess, request: KubeRequest): Promise<KubeStream> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new DetourError('DETOUR_E_KUBE', 'no current cluster');
  const url = new URL(cluster.server + request.path);
  for (const [key, value] of Object.entries(request.query ?? {})) {
    if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
  }
  const method = request.method ?? 'GET';
  const auth = new RequestAuth();
  await kc.applySecurityAuthentication(auth);
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  const dispatcher = auth.getDispatcher() ?? (plainAgent ??= new Agent());
  const answer = await dispatcher.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method,
    headers: {
      ...auth.headers,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body ?? null,
    signal: request.signal ?? null,
  });
  return { status: answer.statusCode, body: answer.body };
}

/**
 * A request's whole answer, whatever its status: a `pods/proxy` call passes the pod's
 * own status through.
 */
export async function kubeRequest(kc: KubeAccess, request: KubeRequest): Promise<KubeAnswer> {
  const answer = await openKubeRequest(kc, request);
  return {
    status: answer.status,
    statusText: STATUS_CODES[answer.status] ?? '',
    text: await answer.body.text(),
  };
}

/** A 2xx answer's JSON, or a KubeApiError with the Status object's reason and message. */
export async function kubeJson(kc: KubeAccess, request: KubeRequest): Promise<unknown> {
  const answer = await kubeRequest(kc, request);
  if (answer.status < 200 || answer.status > 299) {
    let reason = answer.statusText;
    let message = answer.text.slice(0, 300);
    try {
      const status = JSON.parse(answer.text) as { reason?: string; message?: string };
      reason = status.reason ?? reason;
      message = status.message ?? message;
    } catch {
      // not a Status object: keep the raw text
    }
    throw new KubeApiError(answer.status, reason, message, request.path);
  }
  return JSON.parse(answer.text) as unknown;
}

/**
 * GET a JSON document. Paged lists need the raw `continue` token; the generated API
 * clients would do but need one method per kind.
 */
export function kubeGetJson(
  kc: KubeAccess,
  path: string,
  query: Record<string, string | number | undefined>,
  signal?: AbortSignal,
): Promise<unknown> {
  return kubeJson(kc, { path, query, signal });
}
