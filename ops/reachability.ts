import { errorMessage } from '../shared/errors.js';
import { KubeApiError } from '../shared/kube/kube-request.js';
import { fail, type CheckLine } from './check-report.js';

/**
 * What went wrong on the way to the API server, in words: undici says only "fetch
 * failed" and keeps the reason (ECONNREFUSED, a certificate error) in `cause`.
 */
export function networkReason(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  const cause =
    err instanceof Error
      ? (err.cause as { code?: string; message?: string } | undefined)
      : undefined;
  if (cause?.code !== undefined)
    return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message !== undefined) return cause.message;
  return errorMessage(err);
}

export function reachability(server: string, err: unknown): CheckLine {
  if (err instanceof KubeApiError) {
    // It answered: the credentials (or the RBAC for /version) are what is wrong.
    return fail('kubernetes-api', 'can reach the Kubernetes API server', {
      detail: `the Kubernetes API server at ${server} refused the request: ${err.message}`,
      hint: 'check the credentials of the kubeconfig user (kubectl auth whoami)',
    });
  }
  return fail('kubernetes-api', `can reach the Kubernetes API server`, {
    detail: `cannot reach the Kubernetes API server at ${server}: ${networkReason(err)}`,
    hint: 'check --kubeconfig and --context (kubectl cluster-info shows the same server)',
  });
}
