/**
 * The `pods/proxy` subresource: `GET /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH`
 * is forwarded by the API server to the pod's IP and port, and the pod's answer comes
 * back as it is; when the pod cannot be dialled the API server answers 503 with a Status.
 * https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls
 */
import http from 'node:http';
import type { ServerResponse } from 'node:http';
import { ApiError } from './status.js';

export interface PodProxyTarget {
  namespace: string;
  name: string;
  port: number;
  path: string;
}

/** Where a pod's port is dialled: a test maps it onto a loopback server. */
export type PodResolver = (
  namespace: string,
  name: string,
  port: number,
  podIP: string | undefined,
) => { host: string; port: number };

const POD_PROXY = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+)(?::(\d+))?\/proxy(\/.*)?$/;

export function parsePodProxy(pathname: string): PodProxyTarget | undefined {
  const m = POD_PROXY.exec(pathname);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  return { namespace: m[1], name: m[2], port: Number(m[3] ?? '80'), path: m[4] ?? '/' };
}

export function forwardToPod(
  res: ServerResponse,
  dial: { host: string; port: number },
  path: string,
  search: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = http.get(
      { host: dial.host, port: dial.port, path: `${path}${search}`, timeout: 5_000, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          'content-type': answer.headers['content-type'] ?? 'application/octet-stream',
        });
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('i/o timeout')));
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message;
      reject(
        new ApiError(
          'ServiceUnavailable',
          `error trying to reach service: dial tcp ${dial.host}:${dial.port}: ${why}`,
        ),
      );
    });
  });
}
